// Tests of .npy reading and writing: round trips of every element type lnbench
// writes, NumPy interoperability (when /usr/bin/python3 has numpy), and a
// clear UsageError for every kind of bad file.
#include "core/npy.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/errors.h"
#include "support/temp_dir_test.h"

namespace lnbench {
namespace {

namespace fs = std::filesystem;

class NpyTest : public test_support::TempDirTest {
 protected:
  NpyTest() : TempDirTest("lnbench-npy") {}

  void WriteRaw(const std::string& name, const std::string& bytes) const {
    std::ofstream(Path(name), std::ios::binary) << bytes;
  }
  // Expects ReadNpy-like `read` of `bytes` to throw a UsageError naming the
  // file and containing `phrase`.
  template <class Read>
  void ExpectBad(const std::string& bytes, const std::string& phrase, const Read& read) {
    const std::string path = Path("bad.npy");
    WriteRaw("bad.npy", bytes);
    try {
      read(path);
      ADD_FAILURE() << "no error for a file that should give '" << phrase << "'";
    } catch (const UsageError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(path), std::string::npos) << msg;
      EXPECT_NE(msg.find(phrase), std::string::npos) << msg;
      EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    }
  }
  void ExpectBad(const std::string& bytes, const std::string& phrase) {
    ExpectBad(bytes, phrase, [](const std::string& p) { return ReadNpy(p); });
  }

};

// Returns an .npy file with a hand-written header (version 1.0 unless `major`).
std::string Handmade(const std::string& dict, const std::string& data, int major = 1) {
  std::string header = dict;
  const size_t prefix = major == 1 ? 10 : 12;
  header.append((64 - (prefix + header.size() + 1) % 64) % 64, ' ');
  header.push_back('\n');
  std::string out = "\x93NUMPY";
  out.push_back(static_cast<char>(major));
  out.push_back('\0');
  const size_t len = header.size();
  out.push_back(static_cast<char>(len & 0xFF));
  out.push_back(static_cast<char>((len >> 8) & 0xFF));
  if (major != 1) {
    out.push_back(static_cast<char>((len >> 16) & 0xFF));
    out.push_back(static_cast<char>((len >> 24) & 0xFF));
  }
  return out + header + data;
}

std::string FloatBytes(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4);
}

TEST_F(NpyTest, RoundTripsEveryElementType) {
  const std::vector<float> f = {1.5f, -2.25f, 3e-8f, 1e30f, 0.f, -0.f};
  WriteNpy(Path("f32.npy"), {2, 3}, NpyElement::kF32, f.data());
  NpyArray a = ReadNpyMatrix(Path("f32.npy"));
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(a.descr, "<f4");
  EXPECT_EQ(a.size(), 6);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(a.data[i], f[i]);

  const std::vector<double> d = {0.1, -1e300, 5e-324, 3.0};
  WriteNpy(Path("f64.npy"), {4}, NpyElement::kF64, d.data());
  a = ReadNpyVector(Path("f64.npy"), 4);
  EXPECT_EQ(a.descr, "<f8");
  EXPECT_EQ(a.data, d);
  WriteNpy(Path("f64m.npy"), {1, 4}, NpyElement::kF64, d.data());
  EXPECT_EQ(ReadNpyMatrix(Path("f64m.npy")).data, d);

  // bf16 has no NumPy type: written upcast to float32, exactly.
  const std::vector<uint16_t> bf = {0x3F80, 0xC0A0, 0x7F80, 0x0001};
  WriteNpy(Path("bf16.npy"), {4}, NpyElement::kBF16, bf.data());
  a = ReadNpy(Path("bf16.npy"));
  EXPECT_EQ(a.descr, "<f4");
  for (int i = 0; i < 4; ++i) EXPECT_EQ(a.data[i], BF16ToFloat(bf[i]));

  const std::vector<uint16_t> h = {0x3C00, 0xC500, 0x7BFF, 0x0001};  // 1, -5, 65504, 2^-24
  WriteNpy(Path("f16.npy"), {2, 2}, NpyElement::kF16, h.data());
  a = ReadNpyMatrix(Path("f16.npy"));
  EXPECT_EQ(a.descr, "<f2");
  EXPECT_EQ(a.data, (std::vector<double>{1, -5, 65504, 0x1p-24}));

  EXPECT_EQ(NpyElementOf(DType::kF32), NpyElement::kF32);
  EXPECT_EQ(NpyElementOf(DType::kBF16), NpyElement::kBF16);
  EXPECT_EQ(NpyElementOf(DType::kF16), NpyElement::kF16);
}

TEST_F(NpyTest, HeaderIsPaddedSoDataIsAligned) {
  for (int64_t n : {1, 7, 100000}) {
    std::vector<float> v(static_cast<size_t>(n), 2.0f);
    const std::string bytes = EncodeNpy({n}, NpyElement::kF32, v.data());
    const size_t header_len =
        static_cast<unsigned char>(bytes[8]) | static_cast<unsigned char>(bytes[9]) << 8;
    EXPECT_EQ((10 + header_len) % 64, 0u);
    EXPECT_EQ(bytes[10 + header_len - 1], '\n');
    EXPECT_EQ(bytes.size(), 10 + header_len + 4 * static_cast<size_t>(n));
  }
}

TEST_F(NpyTest, ReadsVersion2HeadersAndZeroLengthVectors) {
  WriteRaw("v2.npy", Handmade("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }",
                              FloatBytes({1.f, 2.f}), 2));
  EXPECT_EQ(ReadNpyVector(Path("v2.npy")).data, (std::vector<double>{1, 2}));
  // Double quotes and no trailing comma are valid Python too.
  WriteRaw("dq.npy", Handmade("{\"descr\": \"<f4\", \"shape\": (1, 2), \"fortran_order\": False}",
                              FloatBytes({3.f, 4.f})));
  EXPECT_EQ(ReadNpyMatrix(Path("dq.npy")).shape, (std::vector<int64_t>{1, 2}));
  WriteRaw("empty.npy", Handmade("{'descr': '<f8', 'fortran_order': False, 'shape': (0,), }", ""));
  EXPECT_EQ(ReadNpyVector(Path("empty.npy")).size(), 0);
}

TEST_F(NpyTest, EveryKindOfBadFileIsAUsageError) {
  const std::string ok_dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }";
  const std::string four = FloatBytes({1, 2, 3, 4});
  ExpectBad("", "not an .npy file");
  ExpectBad("hello world, this is text", "not an .npy file");
  ExpectBad(std::string("\x93NUMPX\x01\x00\x10\x00", 10) + std::string(16, ' '),
            "not an .npy file");
  ExpectBad(Handmade(ok_dict, four).substr(0, 40), "truncated .npy header");
  ExpectBad(Handmade(ok_dict, four.substr(0, 12)), "truncated");
  ExpectBad(Handmade(ok_dict, four + "xx"), "size mismatch");
  ExpectBad(Handmade("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", four),
            "Fortran-order");
  ExpectBad(Handmade("{'descr': '>f4', 'fortran_order': False, 'shape': (2, 2), }", four),
            "big-endian");
  for (const char* dtype : {"<i4", "|u1", "<c8", "|O", "<f16", "|b1"}) {
    ExpectBad(Handmade(std::string("{'descr': '") + dtype +
                           "', 'fortran_order': False, 'shape': (2, 2), }",
                       four),
              "unsupported dtype");
  }
  // The message names every dtype the reader takes.
  ExpectBad(Handmade("{'descr': '<i4', 'fortran_order': False, 'shape': (2, 2), }", four),
            "need float32 '<f4', float64 '<f8' or float16 '<f2'");
  ExpectBad(Handmade("{'descr': '<f4', 'fortran_order': False, }", four), "header lacks");
  ExpectBad(Handmade("{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }", four),
            "malformed shape");
  ExpectBad(Handmade("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), 'extra': 1}", four),
            "unexpected header key");
  ExpectBad(Handmade("{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2, 2), }", four),
            "fortran_order");
  ExpectBad(Handmade("descr", four), "malformed header");
  ExpectBad(Handmade(ok_dict, four, 4), "unsupported .npy format version 4");
  ExpectBad(Handmade("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999999999, "
                     "99999999999), }",
                     four),
            "too large");
}

TEST_F(NpyTest, DimensionChecks) {
  auto matrix = [](const std::string& p) { return ReadNpyMatrix(p); };
  auto vector3 = [](const std::string& p) { return ReadNpyVector(p, 3); };
  const std::string four = FloatBytes({1, 2, 3, 4});
  ExpectBad(Handmade("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", four),
            "expected a 2-D array (rows, cols), got shape (4,)", matrix);
  ExpectBad(Handmade("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2, 2), }", four),
            "expected a 2-D array", matrix);
  ExpectBad(Handmade("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", four.substr(0, 4)),
            "got shape ()", matrix);
  ExpectBad(Handmade("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 4), }", ""),
            "empty array", matrix);
  ExpectBad(Handmade("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", four),
            "expected a 1-D array", vector3);
  ExpectBad(Handmade("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", four),
            "length 4 does not match the 3 columns", vector3);
}

TEST_F(NpyTest, MissingFilesAndFolders) {
  EXPECT_THROW(ReadNpy(Path("nope.npy")), UsageError);
  EXPECT_THROW(ReadNpy(dir_), UsageError);
  const float v = 1;
  const std::string target = Path("no/such/folder/out.npy");
  EXPECT_THROW(WriteNpy(target, {1}, NpyElement::kF32, &v), RuntimeError);
  EXPECT_FALSE(fs::exists(target));
  // Nothing half-written is left in the folder either.
  WriteNpy(Path("ok.npy"), {1}, NpyElement::kF32, &v);
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir_)) files += e.is_regular_file();
  EXPECT_EQ(files, 1);
}

// Runs a Python snippet with numpy; returns false when it fails.
bool RunPython(const std::string& code) {
  const std::string cmd = "/usr/bin/python3 -c \"" + code + "\"";
  return std::system(cmd.c_str()) == 0;
}

TEST_F(NpyTest, NumPyReadsWhatWeWriteAndWeReadWhatNumPyWrites) {
  // numpy is a test dependency (scripts/setup.sh installs python3-numpy):
  // without it this fails rather than skipping.
  ASSERT_EQ(std::system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1"), 0)
      << "no /usr/bin/python3 with numpy (apt-get install python3-numpy)";
  const std::vector<float> f = {1.5f, -2.f, 3.25f, 1e-3f, 7.f, 8.f};
  WriteNpy(Path("ours_f32.npy"), {2, 3}, NpyElement::kF32, f.data());
  const std::vector<uint16_t> h = {0x3C00, 0xC500};
  WriteNpy(Path("ours_f16.npy"), {2}, NpyElement::kF16, h.data());
  const std::string d = dir_;
  ASSERT_TRUE(RunPython(
      "import numpy as np\n"
      "a = np.load('" +
      d +
      "/ours_f32.npy')\n"
      "assert a.dtype == np.float32 and a.shape == (2, 3), (a.dtype, a.shape)\n"
      "assert (a == np.array([[1.5, -2, 3.25], [np.float32(1e-3), 7, 8]], np.float32)).all()\n"
      "h = np.load('" +
      d +
      "/ours_f16.npy')\n"
      "assert h.dtype == np.float16 and list(h) == [1.0, -5.0]\n"
      "np.save('" +
      d +
      "/np_f32.npy', np.arange(12, dtype=np.float32).reshape(3, 4) / 8)\n"
      "np.save('" +
      d +
      "/np_f64.npy', np.array([0.1, 0.2, 0.3]))\n"
      "np.save('" +
      d +
      "/np_fortran.npy', np.asfortranarray(np.ones((3, 4), np.float32)))\n"
      "np.save('" +
      d +
      "/np_big.npy', np.ones((3, 4), '>f4'))\n"
      "np.save('" +
      d + "/np_int.npy', np.ones((3, 4), np.int32))\n"));
  const NpyArray a = ReadNpyMatrix(Path("np_f32.npy"));
  ASSERT_EQ(a.shape, (std::vector<int64_t>{3, 4}));
  for (int i = 0; i < 12; ++i) EXPECT_EQ(a.data[i], i / 8.0);
  EXPECT_EQ(ReadNpyVector(Path("np_f64.npy"), 3).data, (std::vector<double>{0.1, 0.2, 0.3}));
  EXPECT_THROW(ReadNpy(Path("np_fortran.npy")), UsageError);
  EXPECT_THROW(ReadNpy(Path("np_big.npy")), UsageError);
  EXPECT_THROW(ReadNpy(Path("np_int.npy")), UsageError);
}

}  // namespace
}  // namespace lnbench
