//! A JSON Schema validator for the keywords ccci's own schemas use (`type`,
//! `const`, `enum`, `required`, `properties`, `additionalProperties`, `items`,
//! `minItems`/`maxItems`, `minLength`/`maxLength`, `minimum`/`maximum`, local
//! `$ref`). An unknown keyword is an error, so a schema can never quietly
//! check less than it says.

use serde_json::Value;

const KNOWN: [&str; 20] = [
    "$schema",
    "$id",
    "$defs",
    "$ref",
    "title",
    "description",
    "type",
    "const",
    "enum",
    "required",
    "properties",
    "additionalProperties",
    "items",
    "minItems",
    "maxItems",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "default",
];

/// Every violation of `schema` by `value`, as `path: what` lines.
pub fn validate(schema: &Value, value: &Value) -> Vec<String> {
    let mut errors = vec![];
    check(schema, schema, value, "$", &mut errors);
    errors
}

fn type_ok(t: &str, v: &Value) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        _ => false,
    }
}

fn check(root: &Value, s: &Value, v: &Value, path: &str, errors: &mut Vec<String>) {
    let Some(obj) = s.as_object() else {
        errors.push(format!("{path}: schema is not an object"));
        return;
    };
    for k in obj.keys() {
        if !KNOWN.contains(&k.as_str()) {
            errors.push(format!("{path}: schema keyword {k} is not supported"));
        }
    }
    if let Some(r) = obj.get("$ref").and_then(Value::as_str) {
        let target = r
            .strip_prefix("#/")
            .map(|p| p.split('/').fold(root, |node, key| &node[key]));
        match target {
            Some(t) if !t.is_null() => check(root, t, v, path, errors),
            _ => errors.push(format!("{path}: unresolvable $ref {r}")),
        }
    }
    if let Some(t) = obj.get("type") {
        let types: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        if !types.iter().any(|t| type_ok(t, v)) {
            errors.push(format!("{path}: {v} is not of type {t}"));
            return;
        }
    }
    if let Some(c) = obj.get("const")
        && c != v
    {
        errors.push(format!("{path}: {v} is not {c}"));
    }
    if let Some(e) = obj.get("enum").and_then(Value::as_array)
        && !e.contains(v)
    {
        errors.push(format!(
            "{path}: {v} is not one of {}",
            Value::Array(e.clone())
        ));
    }
    if let Some(s) = v.as_str() {
        let n = s.chars().count() as u64;
        if obj
            .get("minLength")
            .and_then(Value::as_u64)
            .is_some_and(|m| n < m)
        {
            errors.push(format!("{path}: {v} is too short"));
        }
        if obj
            .get("maxLength")
            .and_then(Value::as_u64)
            .is_some_and(|m| n > m)
        {
            errors.push(format!("{path}: {v} is too long"));
        }
    }
    if let Some(n) = v.as_f64() {
        if obj
            .get("minimum")
            .and_then(Value::as_f64)
            .is_some_and(|m| n < m)
        {
            errors.push(format!("{path}: {v} is below the minimum"));
        }
        if obj
            .get("maximum")
            .and_then(Value::as_f64)
            .is_some_and(|m| n > m)
        {
            errors.push(format!("{path}: {v} is above the maximum"));
        }
    }
    if let Some(a) = v.as_array() {
        let n = a.len() as u64;
        if obj
            .get("minItems")
            .and_then(Value::as_u64)
            .is_some_and(|m| n < m)
        {
            errors.push(format!("{path}: {n} items, fewer than allowed"));
        }
        if obj
            .get("maxItems")
            .and_then(Value::as_u64)
            .is_some_and(|m| n > m)
        {
            errors.push(format!("{path}: {n} items, more than allowed"));
        }
        if let Some(items) = obj.get("items") {
            for (i, item) in a.iter().enumerate() {
                check(root, items, item, &format!("{path}[{i}]"), errors);
            }
        }
    }
    if let Some(o) = v.as_object() {
        for r in obj
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(k) = r.as_str()
                && !o.contains_key(k)
            {
                errors.push(format!("{path}: required {k} is missing"));
            }
        }
        let props = obj.get("properties").and_then(Value::as_object);
        for (k, val) in o {
            match props.and_then(|p| p.get(k)) {
                Some(ps) => check(root, ps, val, &format!("{path}.{k}"), errors),
                None if obj.get("additionalProperties") == Some(&Value::Bool(false)) => {
                    errors.push(format!("{path}: {k} is not allowed"))
                }
                None => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn catches_each_kind_of_violation() {
        let s = json!({
            "type": "object", "additionalProperties": false, "required": ["a", "b"],
            "properties": {
                "a": {"$ref": "#/$defs/small"},
                "b": {"type": "array", "minItems": 1, "items": {"enum": ["x"]}},
                "c": {"type": ["string", "null"], "minLength": 2}
            },
            "$defs": {"small": {"type": "integer", "maximum": 3}}
        });
        assert!(validate(&s, &json!({"a": 1, "b": ["x"], "c": null})).is_empty());
        let e = validate(&s, &json!({"a": 9, "b": ["y"], "c": "z", "d": 1}));
        assert_eq!(e.len(), 4, "{e:?}");
        let e = validate(&s, &json!({"b": []}));
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(!validate(&json!({"pattern": "x"}), &json!("x")).is_empty());
    }
}
