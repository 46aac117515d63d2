//! Tencent API 3.0 request bodies (JSON objects) and the simulator's Tencent error type.

use serde_json::{Map, Value};

/// A Tencent error: always HTTP 200 with `Response.Error` (tencent.md §3.3).
#[derive(Debug, Clone, PartialEq)]
pub struct TcError {
    pub code: String,
    pub message: String,
}

impl TcError {
    pub fn new(code: &str, message: impl Into<String>) -> TcError {
        TcError {
            code: code.to_string(),
            message: message.into(),
        }
    }

    pub fn missing(name: &str) -> TcError {
        TcError::new(
            "MissingParameter",
            format!("The parameter `{name}` is missing."),
        )
    }

    pub fn invalid_value(name: &str, why: &str) -> TcError {
        TcError::new(
            "InvalidParameterValue",
            format!("The value of parameter `{name}` is invalid: {why}."),
        )
    }
}

/// The JSON body of a call.
#[derive(Debug, Clone, Default)]
pub struct Body {
    map: Map<String, Value>,
}

impl Body {
    /// Wraps a JSON object (anything else is refused).
    pub fn from_value(value: Value) -> Result<Body, TcError> {
        match value {
            Value::Object(map) => Ok(Body { map }),
            _ => Err(TcError::new(
                "InvalidParameter",
                "The request body must be a JSON object.",
            )),
        }
    }

    /// Refuses parameters the action does not define (common code `UnknownParameter`).
    pub fn only(&self, allowed: &[&str]) -> Result<(), TcError> {
        match self.map.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(k) => Err(TcError::new(
                "UnknownParameter",
                format!("The parameter `{k}` is not recognized."),
            )),
            None => Ok(()),
        }
    }

    pub fn has(&self, name: &str) -> bool {
        self.map.get(name).is_some_and(|v| !v.is_null())
    }

    pub fn string(&self, name: &str) -> Result<Option<&str>, TcError> {
        match self.map.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(TcError::new(
                "InvalidParameter",
                format!("The parameter `{name}` must be a string."),
            )),
        }
    }

    pub fn bool(&self, name: &str) -> Result<Option<bool>, TcError> {
        match self.map.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) if s == "true" || s == "false" => Ok(Some(s == "true")),
            Some(_) => Err(TcError::new(
                "InvalidParameter",
                format!("The parameter `{name}` must be a boolean."),
            )),
        }
    }

    pub fn int(&self, name: &str) -> Result<Option<i64>, TcError> {
        match self.map.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) if n.is_i64() => Ok(n.as_i64()),
            Some(Value::String(s)) if s.parse::<i64>().is_ok() => Ok(s.parse().ok()),
            Some(_) => Err(TcError::new(
                "InvalidParameter",
                format!("The parameter `{name}` must be an integer."),
            )),
        }
    }

    pub fn strings(&self, name: &str) -> Result<Option<Vec<String>>, TcError> {
        match self.map.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .map(Some)
                .ok_or_else(|| {
                    TcError::new(
                        "InvalidParameter",
                        format!("The parameter `{name}` must be an array of strings."),
                    )
                }),
            Some(_) => Err(TcError::new(
                "InvalidParameter",
                format!("The parameter `{name}` must be an array of strings."),
            )),
        }
    }

    /// `Filters`: at most 10, each with at most 5 values, names from `allowed`.
    pub fn filters(
        &self,
        allowed: &[&str],
        bad_name_code: &str,
    ) -> Result<Vec<(String, Vec<String>)>, TcError> {
        let Some(raw) = self.map.get("Filters").filter(|v| !v.is_null()) else {
            return Ok(Vec::new());
        };
        let list = raw
            .as_array()
            .ok_or_else(|| TcError::new("InvalidParameter", "`Filters` must be an array."))?;
        if list.len() > 10 {
            return Err(TcError::new(
                "InvalidParameterValue.LimitExceeded",
                "At most 10 filters are allowed.",
            ));
        }
        let mut filters = Vec::new();
        for item in list {
            let name = item
                .get("Name")
                .and_then(Value::as_str)
                .ok_or_else(|| TcError::new("InvalidFilter", "Each filter needs a `Name`."))?;
            if !allowed.contains(&name) {
                return Err(TcError::new(
                    bad_name_code,
                    format!("The filter `{name}` is not supported; use one of {allowed:?}."),
                ));
            }
            let values: Vec<String> = item
                .get("Values")
                .and_then(Value::as_array)
                .map(|vs| {
                    vs.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            if values.len() > 5 {
                return Err(TcError::new(
                    "LimitExceeded.FilterValueExceeded",
                    format!("The filter `{name}` has more than 5 values."),
                ));
            }
            filters.push((name.to_string(), values));
        }
        Ok(filters)
    }

    /// `Offset` and `Limit` (default 20, at most 100).
    pub fn paging(&self) -> Result<(usize, usize), TcError> {
        let offset = self.int("Offset")?.unwrap_or(0);
        let limit = self.int("Limit")?.unwrap_or(20);
        if offset < 0 {
            return Err(TcError::invalid_value("Offset", "it must not be negative"));
        }
        if !(1..=100).contains(&limit) {
            return Err(TcError::new(
                "InvalidParameterValue.LimitExceeded",
                "`Limit` must be between 1 and 100.",
            ));
        }
        Ok((offset as usize, limit as usize))
    }
}

/// Rebuilds a JSON object from flattened GET parameters (`InstanceIds.0=…`, `Filters.0.Name=…`).
pub fn unflatten(pairs: &[(String, String)]) -> Value {
    let mut root = Value::Object(Map::new());
    for (key, value) in pairs {
        let mut node = &mut root;
        let parts: Vec<&str> = key.split('.').collect();
        for (i, part) in parts.iter().enumerate() {
            let last = i == parts.len() - 1;
            let next_is_index = parts.get(i + 1).is_some_and(|p| p.parse::<usize>().is_ok());
            let fresh = || {
                if next_is_index {
                    Value::Array(Vec::new())
                } else {
                    Value::Object(Map::new())
                }
            };
            node = match (node, part.parse::<usize>()) {
                (Value::Array(items), Ok(index)) => {
                    while items.len() <= index {
                        items.push(Value::Null);
                    }
                    if last {
                        items[index] = Value::String(value.clone());
                    } else if items[index].is_null() {
                        items[index] = fresh();
                    }
                    &mut items[index]
                }
                (Value::Object(map), _) => {
                    if last {
                        map.insert(part.to_string(), Value::String(value.clone()));
                    }
                    map.entry(part.to_string()).or_insert_with(fresh)
                }
                (other, _) => other,
            };
        }
    }
    root
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn flattened_get_parameters_become_json() {
        let pairs: Vec<(String, String)> = [
            ("InstanceIds.0", "ins-a"),
            ("InstanceIds.1", "ins-b"),
            ("Filters.0.Name", "instance-id"),
            ("Filters.0.Values.0", "ins-c"),
            ("Limit", "10"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(
            unflatten(&pairs),
            json!({"InstanceIds": ["ins-a", "ins-b"], "Filters": [{"Name": "instance-id", "Values": ["ins-c"]}], "Limit": "10"})
        );
    }
}
