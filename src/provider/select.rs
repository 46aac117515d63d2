//! Selecting instances by what they are: the tags a selector asks for, and one page of the
//! instances a vendor's tag filters matched.

use serde_json::Value;

use super::Observed;
use super::text;

/// The (key, value) pairs of a vendor's tag list (`[{key_field, value_field}]`).
pub fn tag_pairs(
    list: Option<&Value>,
    key_field: &str,
    value_field: &str,
) -> Vec<(String, String)> {
    list.and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .map(|t| (text(t, key_field), text(t, value_field)))
                .collect()
        })
        .unwrap_or_default()
}

/// The ids of a vendor's region list (`[{id_field, state_field}]`) whose state is `available`
/// (or not given).
pub fn available_regions(
    list: Option<&Value>,
    id_field: &str,
    state_field: &str,
    available: &str,
) -> Vec<String> {
    list.and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter(|r| {
                    let state = text(r, state_field);
                    state.is_empty() || state == available
                })
                .map(|r| text(r, id_field))
                .filter(|r| !r.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// What one tag-filtered read can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TagLimits {
    /// Tags in one read.
    pub tags: usize,
    /// Characters of a tag key.
    pub key: usize,
    /// Characters of a tag value.
    pub value: usize,
}

/// A tag an instance must carry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TagMatch {
    pub key: String,
    /// The value the tag must have; `None`: any value.
    pub value: Option<String>,
}

impl TagMatch {
    /// The tag `key`, with `value` (or any value).
    pub fn new(key: &str, value: Option<&str>) -> TagMatch {
        TagMatch {
            key: key.to_string(),
            value: value.map(str::to_string),
        }
    }

    /// Whether an instance with these tags carries this one.
    fn matches(&self, tags: &[(String, String)]) -> bool {
        tags.iter()
            .any(|(k, v)| *k == self.key && self.value.as_ref().is_none_or(|want| want == v))
    }
}

impl std::fmt::Display for TagMatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.value {
            Some(value) => write!(f, "{}={}", self.key, value),
            None => write!(f, "{}", self.key),
        }
    }
}

/// Whether an instance with `tags` carries every one of `wanted`. The engine checks every
/// instance a vendor's filter returned, so that a filter the vendor applies more loosely than
/// asked (or a key-only filter it cannot express) never selects an instance to stop.
pub fn carries_all(tags: &[(String, String)], wanted: &[TagMatch]) -> bool {
    wanted.iter().all(|t| t.matches(tags))
}

/// One instance a tag filter returned, with its tags.
#[derive(Debug, Clone, PartialEq)]
pub struct Selected {
    pub observed: Observed,
    pub tags: Vec<(String, String)>,
}

/// One page of a tag-filtered read.
#[derive(Debug, Clone, Default)]
pub struct SelectedPage {
    pub instances: Vec<Selected>,
    /// How many instances the vendor says its filter matches in the region.
    pub total: Option<u64>,
    /// The token of the next page, when there is one.
    pub next: Option<String>,
    pub request_id: Option<String>,
}

/// The regions a vendor lists for an account, with the RequestId.
#[derive(Debug, Clone, Default)]
pub struct RegionList {
    pub regions: Vec<String>,
    pub request_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(key: &str, value: Option<&str>) -> TagMatch {
        TagMatch::new(key, value)
    }

    #[test]
    fn every_tag_must_match_by_value_or_by_key_alone() {
        let tags = vec![
            ("env".to_string(), "dev".to_string()),
            ("team".to_string(), String::new()),
        ];
        assert!(carries_all(&tags, &[tag("env", Some("dev"))]));
        assert!(carries_all(&tags, &[tag("env", None), tag("team", None)]));
        assert!(carries_all(&tags, &[tag("team", Some(""))]));
        assert!(!carries_all(&tags, &[tag("env", Some("prod"))]));
        assert!(!carries_all(
            &tags,
            &[tag("env", Some("dev")), tag("owner", None)]
        ));
        assert!(!carries_all(&tags, &[tag("Env", Some("dev"))]));
        assert!(carries_all(&tags, &[]));
    }
}
