//! Tencent API 3.0 request bodies (JSON objects) and the simulator's Tencent error type.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// A Tencent error: always HTTP 200 with `Response.Error` (docs/vendors/tencent.md, §3.3).
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

    /// `Filters`: at most 10, each with at most 5 values, names from `allowed` (an allowed
    /// name ending in `:` admits every name it starts, as `tag:` does `tag:env`; the action
    /// checks what follows). The codes
    /// for an unknown name and for too many values differ between products.
    pub fn filters(
        &self,
        allowed: &[&str],
        bad_name_code: &str,
        too_many_values_code: &str,
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
            let known = allowed
                .iter()
                .any(|a| *a == name || (a.ends_with(':') && name.starts_with(a)));
            if !known {
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
                    too_many_values_code,
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

/// The highest list index a flattened GET parameter may carry (`InstanceIds.999`). The APIs
/// served take at most 100 items per list; the cap keeps an index from the query from sizing
/// anything.
pub const MAX_LIST_INDEX: usize = 999;

/// A parameter tree being rebuilt: lists keep only the indexes given, so memory follows the
/// size of the query, never the value of an index.
enum Node {
    Leaf(String),
    List(BTreeMap<usize, Node>),
    Object(BTreeMap<String, Node>),
}

impl Node {
    fn into_value(self) -> Value {
        match self {
            Node::Leaf(text) => Value::String(text),
            Node::List(items) => Value::Array(items.into_values().map(Node::into_value).collect()),
            Node::Object(map) => {
                Value::Object(map.into_iter().map(|(k, v)| (k, v.into_value())).collect())
            }
        }
    }
}

/// Rebuilds a JSON object from flattened GET parameters (`InstanceIds.0=…`, `Filters.0.Name=…`).
/// Lists come out in index order; an index above [`MAX_LIST_INDEX`] is refused.
pub fn unflatten(pairs: &[(String, String)]) -> Result<Value, TcError> {
    let mut root = Node::Object(BTreeMap::new());
    for (key, value) in pairs {
        let parts: Vec<&str> = key.split('.').collect();
        let mut node = &mut root;
        for (i, part) in parts.iter().enumerate() {
            let last = i == parts.len() - 1;
            let next_is_index = parts.get(i + 1).is_some_and(|p| p.parse::<usize>().is_ok());
            let fresh = || {
                if last {
                    Node::Leaf(value.clone())
                } else if next_is_index {
                    Node::List(BTreeMap::new())
                } else {
                    Node::Object(BTreeMap::new())
                }
            };
            node = match node {
                Node::List(items) => {
                    let Ok(index) = part.parse::<usize>() else {
                        break;
                    };
                    if index > MAX_LIST_INDEX {
                        let name: String = parts[..i].join(".").chars().take(64).collect();
                        return Err(TcError::new(
                            "InvalidParameter",
                            format!(
                                "The list index {index} of parameter `{name}` is too large: indexes run from 0 to at most {MAX_LIST_INDEX}."
                            ),
                        ));
                    }
                    if last {
                        items.insert(index, fresh());
                    }
                    items.entry(index).or_insert_with(fresh)
                }
                Node::Object(map) => {
                    if last {
                        map.insert(part.to_string(), fresh());
                    }
                    map.entry(part.to_string()).or_insert_with(fresh)
                }
                Node::Leaf(_) => break,
            };
        }
    }
    Ok(root.into_value())
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
            unflatten(&pairs).unwrap(),
            json!({"InstanceIds": ["ins-a", "ins-b"], "Filters": [{"Name": "instance-id", "Values": ["ins-c"]}], "Limit": "10"})
        );
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_huge_list_index_is_refused_without_allocating_for_it() {
        let error = unflatten(&pairs(&[("InstanceIds.4000000000", "x")])).unwrap_err();
        assert_eq!(error.code, "InvalidParameter");
        assert!(error.message.contains("4000000000"), "{}", error.message);
        let nested = unflatten(&pairs(&[("Filters.0.Values.1000", "x")])).unwrap_err();
        assert!(
            nested.message.contains("`Filters.0.Values`"),
            "{}",
            nested.message
        );
    }

    #[test]
    fn a_prefix_admits_tag_filters_and_each_product_names_its_own_codes() {
        let body = |filters: Value| Body::from_value(json!({ "Filters": filters })).unwrap();
        let allowed = ["tag-key", "tag:"];
        let ok = body(json!([{"Name": "tag:env", "Values": ["dev"]}]));
        assert_eq!(
            ok.filters(&allowed, "Bad", "TooMany").unwrap(),
            [("tag:env".to_string(), vec!["dev".to_string()])]
        );
        let unknown = body(json!([{"Name": "tagenv", "Values": ["dev"]}]));
        assert_eq!(
            unknown
                .filters(&allowed, "Bad", "TooMany")
                .unwrap_err()
                .code,
            "Bad"
        );
        let six = body(json!([{"Name": "tag-key", "Values": ["a", "b", "c", "d", "e", "f"]}]));
        assert_eq!(
            six.filters(&allowed, "Bad", "TooMany").unwrap_err().code,
            "TooMany"
        );
        let eleven: Vec<Value> = (0..11)
            .map(|n| json!({"Name": format!("tag:k{n}"), "Values": ["v"]}))
            .collect();
        assert_eq!(
            body(json!(eleven))
                .filters(&allowed, "Bad", "TooMany")
                .unwrap_err()
                .code,
            "InvalidParameterValue.LimitExceeded"
        );
    }

    #[test]
    fn lists_hold_only_the_indexes_given_in_index_order() {
        let value = unflatten(&pairs(&[
            ("InstanceIds.999", "ins-last"),
            ("InstanceIds.3", "ins-b"),
            ("InstanceIds.0", "ins-a"),
        ]))
        .unwrap();
        assert_eq!(
            value,
            json!({"InstanceIds": ["ins-a", "ins-b", "ins-last"]})
        );
    }
}
