// A small JSON Schema validator for the tests: the subset lnbench's schema
// uses (type, const, enum, required, properties, additionalProperties, items,
// minimum, anyOf, $ref to #/$defs/...). Returns every violation with its path.
#ifndef LNBENCH_TESTS_SUPPORT_JSON_SCHEMA_H_
#define LNBENCH_TESTS_SUPPORT_JSON_SCHEMA_H_

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace lnbench::testing {

class SchemaValidator {
 public:
  explicit SchemaValidator(nlohmann::json schema) : root_(std::move(schema)) {}

  static SchemaValidator FromFile(const std::string& path) {
    std::ifstream in(path);
    return SchemaValidator(nlohmann::json::parse(in));
  }

  // Returns the violations of `doc` ("$.cases[3].status: not in enum"); empty when valid.
  std::vector<std::string> Validate(const nlohmann::json& doc) const {
    std::vector<std::string> errors;
    Check(root_, doc, "$", errors);
    return errors;
  }

 private:
  const nlohmann::json& Resolve(const nlohmann::json& schema) const {
    if (schema.is_object() && schema.contains("$ref")) {
      const std::string ref = schema["$ref"];
      const std::string prefix = "#/$defs/";
      if (ref.rfind(prefix, 0) == 0) return Resolve(root_["$defs"][ref.substr(prefix.size())]);
    }
    return schema;
  }

  static bool TypeMatches(const std::string& type, const nlohmann::json& v) {
    if (type == "object") return v.is_object();
    if (type == "array") return v.is_array();
    if (type == "string") return v.is_string();
    if (type == "integer") return v.is_number_integer();
    if (type == "number") return v.is_number();
    if (type == "boolean") return v.is_boolean();
    if (type == "null") return v.is_null();
    return false;
  }

  void Check(const nlohmann::json& raw, const nlohmann::json& v, const std::string& path,
             std::vector<std::string>& errors) const {
    const nlohmann::json& s = Resolve(raw);
    if (!s.is_object()) return;
    if (s.contains("type")) {
      bool ok = false;
      if (s["type"].is_array()) {
        for (const auto& t : s["type"]) ok |= TypeMatches(t, v);
      } else {
        ok = TypeMatches(s["type"], v);
      }
      if (!ok) {
        errors.push_back(path + ": expected type " + s["type"].dump() + ", got " + v.dump().substr(0, 60));
        return;
      }
    }
    if (s.contains("const") && s["const"] != v) errors.push_back(path + ": expected " + s["const"].dump());
    if (s.contains("enum")) {
      bool found = false;
      for (const auto& e : s["enum"]) found |= e == v;
      if (!found) errors.push_back(path + ": " + v.dump().substr(0, 60) + " not in enum");
    }
    if (s.contains("minimum") && v.is_number() && v.get<double>() < s["minimum"].get<double>())
      errors.push_back(path + ": below minimum");
    if (s.contains("anyOf")) {
      bool any = false;
      for (const auto& alt : s["anyOf"]) {
        std::vector<std::string> sub;
        Check(alt, v, path, sub);
        if (sub.empty()) {
          any = true;
          break;
        }
      }
      if (!any) errors.push_back(path + ": matches none of anyOf");
    }
    if (v.is_object()) {
      if (s.contains("required"))
        for (const auto& r : s["required"])
          if (!v.contains(r.get<std::string>())) errors.push_back(path + ": missing '" + r.get<std::string>() + "'");
      for (auto it = v.begin(); it != v.end(); ++it) {
        const std::string child = path + "." + it.key();
        if (s.contains("properties") && s["properties"].contains(it.key())) {
          Check(s["properties"][it.key()], it.value(), child, errors);
        } else if (s.contains("additionalProperties")) {
          const auto& ap = s["additionalProperties"];
          if (ap.is_boolean() && !ap.get<bool>()) errors.push_back(child + ": not allowed");
          else if (ap.is_object()) Check(ap, it.value(), child, errors);
        }
      }
    }
    if (v.is_array() && s.contains("items"))
      for (size_t i = 0; i < v.size(); ++i) Check(s["items"], v[i], path + "[" + std::to_string(i) + "]", errors);
  }

  nlohmann::json root_;
};

}  // namespace lnbench::testing

#endif  // LNBENCH_TESTS_SUPPORT_JSON_SCHEMA_H_
