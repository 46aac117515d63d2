//! Selecting Tencent instances by tags: CVM `DescribeInstances` with tag `Filters` and
//! `Limit`/`Offset` paging, and `DescribeRegions` (docs/vendors/tencent.md, "Selecting
//! instances by tag").
//!
//! A tag with a value is the filter `tag:KEY` with that value. Values within one filter are
//! alternatives, so only one key-only tag can be a filter (`tag-key`); any further key-only tag
//! is checked by the engine on the instances returned, as every tag is.

use serde_json::{Value, json};

use super::client::{CVM, TencentClient};
use super::cvm::{observed, text};
use crate::model::StopError;
use crate::provider::{RegionList, Scope, Selected, SelectedPage, TagMatch};

/// `Filters` holds at most 10 filters.
pub const MAX_TAGS: usize = 10;

/// The largest page `Limit` asks for.
const PAGE: u64 = 100;

/// The `Filters` that express `wanted`.
fn filters(wanted: &[TagMatch]) -> Vec<Value> {
    let mut filters: Vec<Value> = wanted
        .iter()
        .filter_map(|t| {
            let value = t.value.as_ref()?;
            Some(json!({"Name": format!("tag:{}", t.key), "Values": [value]}))
        })
        .collect();
    if let Some(key_only) = wanted.iter().find(|t| t.value.is_none()) {
        filters.push(json!({"Name": "tag-key", "Values": [key_only.key]}));
    }
    filters
}

/// The tags of one `InstanceSet` entry.
fn tags(instance: &Value) -> Vec<(String, String)> {
    instance
        .get("Tags")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .map(|t| (text(t, "Key"), text(t, "Value")))
                .collect()
        })
        .unwrap_or_default()
}

/// One page of the instances carrying `tags`; the page token is the offset.
pub async fn select(
    client: &TencentClient,
    scope: Scope<'_>,
    wanted: &[TagMatch],
    page: Option<&str>,
) -> Result<SelectedPage, StopError> {
    let offset: u64 = page.and_then(|p| p.parse().ok()).unwrap_or(0);
    let params = json!({"Filters": filters(wanted), "Offset": offset, "Limit": PAGE});
    let (body, request_id) = client
        .call(scope, CVM, "DescribeInstances", &params)
        .await?;
    let instances: Vec<Selected> = body
        .get("InstanceSet")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .map(|i| Selected {
                    observed: observed(i),
                    tags: tags(i),
                })
                .collect()
        })
        .unwrap_or_default();
    let total = body.get("TotalCount").and_then(Value::as_u64);
    let read = offset + instances.len() as u64;
    let next = (!instances.is_empty() && total.is_some_and(|t| read < t)).then(|| read.to_string());
    Ok(SelectedPage {
        instances,
        total,
        next,
        request_id,
    })
}

/// `DescribeRegions`: the regions the account can use.
pub async fn regions(client: &TencentClient, scope: Scope<'_>) -> Result<RegionList, StopError> {
    let (body, request_id) = client
        .call(scope, CVM, "DescribeRegions", &json!({}))
        .await?;
    let regions = body
        .get("RegionSet")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter(|r| {
                    let state = text(r, "RegionState");
                    state.is_empty() || state == "AVAILABLE"
                })
                .map(|r| text(r, "Region"))
                .filter(|r| !r.is_empty())
                .collect()
        })
        .unwrap_or_default();
    Ok(RegionList {
        regions,
        request_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valued_tags_become_tag_filters_and_the_first_key_only_tag_a_tag_key_filter() {
        let wanted = vec![
            TagMatch {
                key: "team".into(),
                value: None,
            },
            TagMatch {
                key: "env".into(),
                value: Some("dev".into()),
            },
            TagMatch {
                key: "owner".into(),
                value: None,
            },
        ];
        assert_eq!(
            filters(&wanted),
            vec![
                json!({"Name": "tag:env", "Values": ["dev"]}),
                json!({"Name": "tag-key", "Values": ["team"]}),
            ]
        );
    }
}
