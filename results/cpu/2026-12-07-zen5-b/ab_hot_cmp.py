import glob,re,statistics,collections
d=collections.defaultdict(dict)
for f in glob.glob('*_*_*.txt'):
    m,v,r=f[:-4].split('_')
    for l in open(f):
        p=l.split()
        if len(p)==6 and p[0] in('f32','bf16'):
            d[(m,p[0],int(p[1]))][(v,int(r))]=float(p[3])
for k in sorted(d):
    rs=sorted(d[k][('new',r)]/d[k][('base',r)] for r in range(1,11) if ('new',r) in d[k] and ('base',r) in d[k])
    print(k, 'median new/base %.3f'%statistics.median(rs), 'range %.3f-%.3f'%(rs[0],rs[-1]), 'n',len(rs))
