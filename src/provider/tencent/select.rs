//! Selecting Tencent instances by tags: CVM `DescribeInstances` with tag `Filters` and
//! `Limit`/`Offset` paging, and `DescribeRegions` (docs/vendors/tencent.md, "Selecting
//! instances by tag").
//!
//! A tag with a value is the filter `tag:KEY` with that value. Values within one filter are
//! alternatives, so only one key-only tag can be a filter (`tag-key`); any further key-only tag
//! is checked by the engine on the instances returned, as every tag is.

use serde_json::{Value, json};

use super::client::{CVM, TencentClient};
use super::cvm::observed;
use crate::model::StopError;
use crate::provider::select::{available_regions, tag_pairs};
use crate::provider::{RegionList, Scope, Selected, SelectedPage, TagLimits, TagMatch};

/// `Filters` holds at most 10 filters; tag keys have at most 127 characters, values 255.
pub const TAG_LIMITS: TagLimits = TagLimits {
    tags: 10,
    key: 127,
    value: 255,
};

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
                    tags: tag_pairs(i.get("Tags"), "Key", "Value"),
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
    let regions = available_regions(body.get("RegionSet"), "Region", "RegionState", "AVAILABLE");
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
            TagMatch::new("team", None),
            TagMatch::new("env", Some("dev")),
            TagMatch::new("owner", None),
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
