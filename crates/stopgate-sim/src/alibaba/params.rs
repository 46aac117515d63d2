//! Alibaba RPC parameters (flat string pairs) and the simulator's Alibaba error type.

use std::collections::BTreeMap;

use serde_json::{Value, json};

/// An Alibaba error answer: HTTP status, `Code`, `Message` (docs/vendors/alibaba.md, §1.4).
#[derive(Debug, Clone, PartialEq)]
pub struct AliError {
    pub status: u16,
    pub code: String,
    pub message: String,
    /// Sent as `x-acs-retry-after` (milliseconds) when throttled.
    pub retry_after_ms: Option<u64>,
}

impl AliError {
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> AliError {
        AliError {
            status,
            code: code.to_string(),
            message: message.into(),
            retry_after_ms: None,
        }
    }

    /// `MissingParameter.X` (docs/vendors/alibaba.md, §4).
    pub fn missing(name: &str) -> AliError {
        AliError::new(
            400,
            &format!("MissingParameter.{name}"),
            format!(
                "The input parameter \"{name}\" that is mandatory for processing this request is not supplied."
            ),
        )
    }

    /// `InvalidParameter` naming the parameter.
    pub fn invalid(name: &str) -> AliError {
        AliError::new(
            400,
            "InvalidParameter",
            format!("The specified parameter \"{name}\" is not valid."),
        )
    }
}

/// Parameters that belong to the protocol, not the action (docs/vendors/alibaba.md, §1.2).
pub const COMMON: [&str; 11] = [
    "AccessKeyId",
    "Action",
    "Format",
    "SecurityToken",
    "Signature",
    "SignatureMethod",
    "SignatureNonce",
    "SignatureType",
    "SignatureVersion",
    "Timestamp",
    "Version",
];

/// The highest RepeatList index accepted (`InstanceId.1000`). The actions served take at most
/// 100 items per list.
pub const MAX_REPEAT_INDEX: u64 = 1000;

/// The business parameters of a call.
#[derive(Debug, Clone, Default)]
pub struct Params {
    map: BTreeMap<String, String>,
}

impl Params {
    /// Keeps the business parameters of the decoded pairs (the last value of a repeated key).
    pub fn from_pairs(pairs: &[(String, String)]) -> Params {
        let map = pairs
            .iter()
            .filter(|(k, _)| !COMMON.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Params { map }
    }

    /// As a JSON object, for the call log.
    pub fn to_json(&self) -> Value {
        json!(self.map)
    }

    /// Whether any value equals `needle`.
    pub fn mentions(&self, needle: &str) -> bool {
        self.map
            .values()
            .any(|v| v == needle || v.contains(&format!("\"{needle}\"")))
    }

    /// A non-empty value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.map
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// A value that must be present.
    pub fn required(&self, name: &str) -> Result<&str, AliError> {
        self.get(name).ok_or_else(|| AliError::missing(name))
    }

    /// A boolean; the Python SDKs send `True`/`False` (docs/vendors/alibaba.md, §2 "Booleans").
    pub fn bool(&self, name: &str) -> Result<Option<bool>, AliError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(_) => Err(AliError::invalid(name)),
        }
    }

    /// An integer.
    pub fn int(&self, name: &str) -> Result<Option<i64>, AliError> {
        self.get(name)
            .map(|v| v.parse::<i64>().map_err(|_| AliError::invalid(name)))
            .transpose()
    }

    /// A RepeatList `Name.1`, `Name.2`, … in index order (docs/vendors/alibaba.md, §2 "Array encodings").
    /// An index above [`MAX_REPEAT_INDEX`] is refused as an invalid parameter.
    pub fn repeat_list(&self, name: &str) -> Result<Vec<String>, AliError> {
        let prefix = format!("{name}.");
        let mut items: Vec<(u64, String)> = Vec::new();
        for (key, value) in self.map.range(prefix.clone()..) {
            let Some(rest) = key.strip_prefix(&prefix) else {
                break;
            };
            let Ok(index) = rest.parse::<u64>() else {
                continue;
            };
            if index > MAX_REPEAT_INDEX {
                let shown: String = key.chars().take(64).collect();
                return Err(AliError::new(
                    400,
                    "InvalidParameter",
                    format!(
                        "The specified parameter \"{shown}\" is not valid: RepeatList indexes run from 1 to at most {MAX_REPEAT_INDEX}."
                    ),
                ));
            }
            items.push((index, value.clone()));
        }
        items.sort_by_key(|(i, _)| *i);
        Ok(items
            .into_iter()
            .map(|(_, v)| v)
            .filter(|v| !v.is_empty())
            .collect())
    }

    /// A JSON-array string such as `InstanceIds='["i-a","i-b"]'`.
    pub fn json_list(&self, name: &str) -> Result<Option<Vec<String>>, AliError> {
        self.get(name)
            .map(|raw| {
                serde_json::from_str::<Vec<String>>(raw).map_err(|_| AliError::invalid(name))
            })
            .transpose()
    }
}

/// A page of results and the paging fields to answer with. Handles both `PageNumber`/`PageSize`
/// and `MaxResults`/`NextToken` (docs/vendors/alibaba.md, §2.5–2.7).
/// With `clamp_max_results`, `MaxResults` below 10 means 10 and above the maximum means the
/// maximum, as DescribeInstances documents (docs/vendors/alibaba.md, §2.5); otherwise it is refused.
pub fn paginate<T>(
    items: Vec<T>,
    params: &Params,
    max_page: i64,
    default_page: i64,
    clamp_max_results: bool,
) -> Result<(Vec<T>, serde_json::Map<String, Value>), AliError> {
    let (range, meta) = page_of(
        items.len(),
        params,
        max_page,
        default_page,
        clamp_max_results,
    )?;
    let page = items
        .into_iter()
        .skip(range.start)
        .take(range.len())
        .collect();
    Ok((page, meta))
}

/// The positions of the page the parameters ask for among `total` items, and the paging fields
/// to answer with; lets a caller render only the page.
pub fn page_of(
    total: usize,
    params: &Params,
    max_page: i64,
    default_page: i64,
    clamp_max_results: bool,
) -> Result<(std::ops::Range<usize>, serde_json::Map<String, Value>), AliError> {
    page_within(
        total,
        None,
        params,
        max_page,
        default_page,
        clamp_max_results,
    )
}

/// Like [`page_of`] over items known by a stable, increasing key each (an instance's place in
/// creation order): a `NextToken` names the key of the first item of the next page, not an
/// offset, so a page never repeats or skips an item because items were added, or stopped
/// matching, between two calls.
pub fn page_of_keyed(
    keys: &[usize],
    params: &Params,
    max_page: i64,
    default_page: i64,
    clamp_max_results: bool,
) -> Result<(std::ops::Range<usize>, serde_json::Map<String, Value>), AliError> {
    page_within(
        keys.len(),
        Some(keys),
        params,
        max_page,
        default_page,
        clamp_max_results,
    )
}

fn bad_next_token() -> AliError {
    AliError::new(
        400,
        "InvalidParameter.NextToken",
        "The specified parameter NextToken is not valid.",
    )
}

fn page_within(
    total: usize,
    keys: Option<&[usize]>,
    params: &Params,
    max_page: i64,
    default_page: i64,
    clamp_max_results: bool,
) -> Result<(std::ops::Range<usize>, serde_json::Map<String, Value>), AliError> {
    let mut meta = serde_json::Map::new();
    meta.insert("TotalCount".into(), json!(total));
    let token_mode = params.get("MaxResults").is_some() || params.get("NextToken").is_some();
    let (offset, size) = if token_mode {
        let mut size = params.int("MaxResults")?.unwrap_or(default_page);
        if clamp_max_results {
            size = size.clamp(10, max_page);
        }
        if !(1..=max_page).contains(&size) {
            return Err(AliError::new(
                400,
                "InvalidParameter.MaxResults",
                "The specified parameter MaxResults is not valid.",
            ));
        }
        let offset = match params.get("NextToken") {
            None => 0,
            Some(token) => {
                let named = token
                    .strip_prefix("sgnt-")
                    .and_then(|n| n.parse::<usize>().ok())
                    .ok_or_else(bad_next_token)?;
                match keys {
                    // The first item at or after the named key.
                    Some(keys) => keys.partition_point(|&k| k < named),
                    None => named,
                }
            }
        };
        meta.insert("MaxResults".into(), json!(size));
        (offset, size as usize)
    } else {
        let number = params.int("PageNumber")?.unwrap_or(1);
        if number < 1 {
            return Err(AliError::new(
                400,
                "InvalidParam.PageNumber",
                "The specified parameter is invalid.",
            ));
        }
        let size = params.int("PageSize")?.unwrap_or(default_page);
        if !(1..=max_page).contains(&size) {
            return Err(AliError::new(
                400,
                "InvalidParam.PageSize",
                "The specified parameter is invalid.",
            ));
        }
        meta.insert("PageNumber".into(), json!(number));
        meta.insert("PageSize".into(), json!(size));
        // A page past the end is empty, however far past: the product saturates.
        let offset = usize::try_from((number - 1).saturating_mul(size)).unwrap_or(usize::MAX);
        (offset, size as usize)
    };
    let start = offset.min(total);
    let end = start.saturating_add(size).min(total);
    if token_mode {
        let next = match keys {
            Some(keys) => keys.get(end).copied(),
            None => (end < total).then_some(end),
        };
        meta.insert(
            "NextToken".into(),
            json!(next.map(|n| format!("sgnt-{n}")).unwrap_or_default()),
        );
    }
    Ok((start..end, meta))
}

/// The most `Tag.N` a DescribeInstances call takes (N from 1 to 20), and the longest tag key
/// and value it accepts (docs/vendors/alibaba.md, "Selecting instances by tag").
pub const MAX_TAGS: u64 = 20;
const MAX_TAG_LEN: usize = 128;

impl Params {
    /// `Tag.N.Key` / `Tag.N.Value` in index order, as (key, value): a key without a value asks
    /// for the tag whatever its value. N runs from 1 to [`MAX_TAGS`] (`InvalidTagCount`); a
    /// value without its key is `InvalidTag.Mismatch`; an over-long key or value, or a key
    /// holding a URL, is `InvalidTagKey.Malformed` / `InvalidTagValue.Malformed`.
    pub fn tags(&self) -> Result<Vec<(String, Option<String>)>, AliError> {
        let mut found: BTreeMap<u64, (Option<&str>, Option<&str>)> = BTreeMap::new();
        for (name, value) in self.map.range("Tag.".to_string()..) {
            let Some(rest) = name.strip_prefix("Tag.") else {
                break;
            };
            let Some((index, field)) = rest.split_once('.') else {
                continue;
            };
            let Ok(index) = index.parse::<u64>() else {
                continue;
            };
            if !(1..=MAX_TAGS).contains(&index) {
                return Err(AliError::new(
                    400,
                    "InvalidTagCount",
                    format!(
                        "The specified tags are beyond the permitted range: Tag.N takes N from 1 to {MAX_TAGS}."
                    ),
                ));
            }
            let slot = found.entry(index).or_default();
            let value = Some(value.as_str()).filter(|v| !v.is_empty());
            match field {
                "Key" => slot.0 = value,
                "Value" => slot.1 = value,
                _ => {}
            }
        }
        let mut tags = Vec::with_capacity(found.len());
        for (index, (key, value)) in found {
            let key = match (key, value) {
                (Some(key), _) => key,
                (None, Some(_)) => {
                    return Err(AliError::new(
                        400,
                        "InvalidTag.Mismatch",
                        format!(
                            "The specified Tag.{index}.Key and Tag.{index}.Value are not match."
                        ),
                    ));
                }
                (None, None) => continue,
            };
            if key.chars().count() > MAX_TAG_LEN
                || key.contains("http://")
                || key.contains("https://")
            {
                return Err(AliError::new(
                    400,
                    "InvalidTagKey.Malformed",
                    format!(
                        "The specified Tag.{index}.Key is not valid: at most {MAX_TAG_LEN} characters, without http:// or https://."
                    ),
                ));
            }
            if value.is_some_and(|v| v.chars().count() > MAX_TAG_LEN) {
                return Err(AliError::new(
                    400,
                    "InvalidTagValue.Malformed",
                    format!(
                        "The specified Tag.{index}.Value is not valid: at most {MAX_TAG_LEN} characters."
                    ),
                ));
            }
            tags.push((key.to_string(), value.map(str::to_string)));
        }
        Ok(tags)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(list: &[(&str, &str)]) -> Params {
        let pairs: Vec<(String, String)> = list
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Params::from_pairs(&pairs)
    }

    #[test]
    fn a_repeat_list_comes_in_index_order_and_refuses_a_huge_index() {
        let ok = params(&[
            ("InstanceId.2", "i-b"),
            ("InstanceId.1", "i-a"),
            ("InstanceIdX", "z"),
        ]);
        assert_eq!(ok.repeat_list("InstanceId").unwrap(), ["i-a", "i-b"]);
        let huge = params(&[("InstanceId.4000000000", "i-a")]);
        let error = huge.repeat_list("InstanceId").unwrap_err();
        assert_eq!(
            (error.status, error.code.as_str()),
            (400, "InvalidParameter")
        );
        assert!(
            error.message.contains("InstanceId.4000000000"),
            "{}",
            error.message
        );
    }

    #[test]
    fn a_page_number_far_past_the_end_is_an_empty_page_not_an_overflow() {
        let items: Vec<u32> = (0..10).collect();
        let huge = i64::MAX.to_string();
        let (page, meta) = paginate(
            items.clone(),
            &params(&[("PageNumber", &huge), ("PageSize", "50")]),
            50,
            10,
            false,
        )
        .unwrap();
        assert!(page.is_empty());
        assert_eq!(meta["TotalCount"], 10);
        let token = format!("sgnt-{}", usize::MAX);
        let (page, meta) = paginate(
            items,
            &params(&[("NextToken", &token), ("MaxResults", "50")]),
            50,
            10,
            false,
        )
        .unwrap();
        assert!(page.is_empty());
        assert_eq!(meta["NextToken"], "");
    }

    #[test]
    fn a_keyed_next_token_names_the_next_item_not_an_offset() {
        let keys = [2, 5, 9, 11, 40];
        let (range, meta) =
            page_of_keyed(&keys, &params(&[("MaxResults", "10")]), 100, 10, true).unwrap();
        assert_eq!((range, &meta["NextToken"]), (0..5, &json!("")));
        let first = params(&[("MaxResults", "2")]);
        let (range, meta) = page_of_keyed(&keys, &first, 2, 1, false).unwrap();
        assert_eq!((range, &meta["NextToken"]), (0..2, &json!("sgnt-9")));
        // The item the token names stopped matching: the page starts at the one after it.
        let gone = [2, 5, 11, 40];
        let next = params(&[("MaxResults", "2"), ("NextToken", "sgnt-9")]);
        let (range, meta) = page_of_keyed(&gone, &next, 2, 1, false).unwrap();
        assert_eq!((range, &meta["NextToken"]), (2..4, &json!("")));
        let bad = params(&[("NextToken", "garbage")]);
        assert_eq!(
            page_of_keyed(&keys, &bad, 100, 10, true).unwrap_err().code,
            "InvalidParameter.NextToken"
        );
    }

    #[test]
    fn tags_come_in_index_order_with_their_documented_errors() {
        let ok = params(&[
            ("Tag.2.Key", "team"),
            ("Tag.1.Key", "env"),
            ("Tag.1.Value", "dev"),
        ]);
        assert_eq!(
            ok.tags().unwrap(),
            [
                ("env".to_string(), Some("dev".to_string())),
                ("team".to_string(), None)
            ]
        );
        let code = |list: &[(&str, &str)]| params(list).tags().unwrap_err().code;
        assert_eq!(code(&[("Tag.21.Key", "a")]), "InvalidTagCount");
        assert_eq!(code(&[("Tag.0.Key", "a")]), "InvalidTagCount");
        assert_eq!(code(&[("Tag.1.Value", "dev")]), "InvalidTag.Mismatch");
        let long = "k".repeat(129);
        assert_eq!(code(&[("Tag.1.Key", &long)]), "InvalidTagKey.Malformed");
        assert_eq!(
            code(&[("Tag.1.Key", "env"), ("Tag.1.Value", &long)]),
            "InvalidTagValue.Malformed"
        );
    }
}
