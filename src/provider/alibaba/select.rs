//! Selecting Alibaba instances by tags: ECS `DescribeInstances` with `Tag.N.Key`/`Tag.N.Value`
//! and `MaxResults`/`NextToken` paging, and `DescribeRegions` (docs/vendors/alibaba.md,
//! "Selecting instances by tag").

use serde_json::Value;

use super::client::AlibabaClient;
use super::ecs::observed;
use crate::model::StopError;
use crate::provider::select::{available_regions, tag_pairs};
use crate::provider::text;
use crate::provider::{RegionList, Scope, Selected, SelectedPage, TagLimits, TagMatch};

/// `Tag.N` goes from 1 to 20; keys and values have at most 128 characters.
pub const TAG_LIMITS: TagLimits = TagLimits {
    tags: 20,
    key: 128,
    value: 128,
};

/// The largest page `MaxResults` asks for.
const PAGE: u32 = 100;

/// One page of the instances carrying `tags`.
pub async fn select(
    client: &AlibabaClient,
    scope: Scope<'_>,
    wanted: &[TagMatch],
    page: Option<&str>,
) -> Result<SelectedPage, StopError> {
    let mut params = vec![
        ("RegionId".to_string(), scope.region.to_string()),
        ("MaxResults".to_string(), PAGE.to_string()),
    ];
    for (i, tag) in wanted.iter().enumerate() {
        params.push((format!("Tag.{}.Key", i + 1), tag.key.clone()));
        if let Some(value) = &tag.value {
            params.push((format!("Tag.{}.Value", i + 1), value.clone()));
        }
    }
    if let Some(token) = page {
        params.push(("NextToken".to_string(), token.to_string()));
    }
    let (body, request_id) = client.call(scope, "DescribeInstances", &params).await?;
    let instances = body
        .pointer("/Instances/Instance")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .map(|i| Selected {
                    observed: observed(i),
                    tags: tag_pairs(i.pointer("/Tags/Tag"), "TagKey", "TagValue"),
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(SelectedPage {
        instances,
        total: body.get("TotalCount").and_then(Value::as_u64),
        next: Some(text(&body, "NextToken")).filter(|t| !t.is_empty()),
        request_id,
    })
}

/// `DescribeRegions`: the regions the account can use.
pub async fn regions(client: &AlibabaClient, scope: Scope<'_>) -> Result<RegionList, StopError> {
    let params = vec![("RegionId".to_string(), scope.region.to_string())];
    let (body, request_id) = client.call(scope, "DescribeRegions", &params).await?;
    let regions = available_regions(
        body.pointer("/Regions/Region"),
        "RegionId",
        "Status",
        "available",
    );
    Ok(RegionList {
        regions,
        request_id,
    })
}
