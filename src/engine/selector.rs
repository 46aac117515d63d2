//! A selector request (stop instances by tags, in regions), checked before any vendor call.

use crate::config::Config;
use crate::model::Provider;
use crate::provider::{Adapter, TagMatch};

use super::request::{FieldViolation, check_region};

/// The most regions one selector may name.
pub const MAX_REGIONS: usize = 32;

/// A selector as asked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SelectorRequest {
    pub tags: Vec<TagMatch>,
    pub regions: Vec<String>,
    pub all_regions: bool,
    pub expect_at_most: u32,
}

/// Where a selector searches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Regions {
    Listed(Vec<String>),
    /// The account's configured regions, or else the vendor's list.
    All,
}

/// A selector that passed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    pub tags: Vec<TagMatch>,
    pub regions: Regions,
    pub expect_at_most: usize,
}

impl Selection {
    /// The tags as the caller wrote them, e.g. `env=dev,team`.
    pub fn tags_text(&self) -> String {
        let tags: Vec<String> = self.tags.iter().map(ToString::to_string).collect();
        tags.join(",")
    }

    /// The regions as they name the operation in logs and audit lines.
    pub fn regions_text(&self) -> String {
        match &self.regions {
            Regions::Listed(regions) => regions.join(","),
            Regions::All => "all".to_string(),
        }
    }
}

fn violation(field: impl Into<String>, description: impl Into<String>) -> FieldViolation {
    FieldViolation {
        field: field.into(),
        description: description.into(),
    }
}

/// Checks a selector; `region` is the request's own region field, and `batch` the vendor's
/// stop batch when the request is all-or-nothing.
pub fn check(
    config: &Config,
    adapter: &dyn Adapter,
    selector: SelectorRequest,
    region: &str,
    all_or_nothing: Option<usize>,
    violations: &mut Vec<FieldViolation>,
) -> Option<Selection> {
    let before = violations.len();
    let provider: Provider = adapter.provider();
    let limits = adapter.tag_limits();
    let max_tags = limits.tags;
    if selector.tags.is_empty() {
        violations.push(violation(
            "selector.tags",
            "required: at least one tag, as key and value or as key alone (has the tag)",
        ));
    }
    if selector.tags.len() > max_tags {
        violations.push(violation(
            "selector.tags",
            format!(
                "{} tags given; {provider} filters on at most {max_tags} in one read",
                selector.tags.len()
            ),
        ));
    }
    let mut keys = std::collections::HashSet::new();
    for (i, tag) in selector.tags.iter().enumerate() {
        if tag.key.is_empty() {
            violations.push(violation(
                format!("selector.tags[{i}].key"),
                "required: the tag's key",
            ));
        } else if tag.key.chars().count() > limits.key {
            violations.push(violation(
                format!("selector.tags[{i}].key"),
                format!("{provider} tag keys have at most {} characters", limits.key),
            ));
        } else if !keys.insert(tag.key.as_str()) {
            violations.push(violation(
                format!("selector.tags[{i}].key"),
                format!(
                    "tag {:?} is given twice; an instance has one value per tag key",
                    tag.key
                ),
            ));
        }
        if tag
            .value
            .as_ref()
            .is_some_and(|v| v.chars().count() > limits.value)
        {
            violations.push(violation(
                format!("selector.tags[{i}].value"),
                format!(
                    "{provider} tag values have at most {} characters",
                    limits.value
                ),
            ));
        }
    }
    if !region.is_empty() {
        check_region(config, adapter, "region", region, violations);
    }
    let mut regions = selector.regions.clone();
    if !region.is_empty() && !regions.iter().any(|r| r == region) {
        regions.insert(0, region.to_string());
    }
    if selector.all_regions && !regions.is_empty() {
        violations.push(violation(
            "selector.all_regions",
            "cannot be combined with selector.regions or region: name the regions, or ask for all",
        ));
    }
    if !selector.all_regions && regions.is_empty() {
        violations.push(violation(
            "selector.regions",
            "required: the regions to search (or region, or selector.all_regions)",
        ));
    }
    if regions.len() > MAX_REGIONS {
        violations.push(violation(
            "selector.regions",
            format!("{} regions given; at most {MAX_REGIONS}", regions.len()),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for (i, r) in selector.regions.iter().enumerate() {
        if !seen.insert(r.as_str()) {
            violations.push(violation(
                format!("selector.regions[{i}]"),
                format!("{r:?} is named twice"),
            ));
        } else {
            check_region(
                config,
                adapter,
                &format!("selector.regions[{i}]"),
                r,
                violations,
            );
        }
    }
    let max = config.max_instances_per_request;
    let expect = selector.expect_at_most as usize;
    if expect == 0 {
        violations.push(violation(
            "selector.expect_at_most",
            "required: the most instances you expect the selector to match; if it matches more, nothing is stopped",
        ));
    } else if expect > max {
        violations.push(violation(
            "selector.expect_at_most",
            format!("at most {max} (the gateway's max_instances_per_request): split the selector by region or tag"),
        ));
    }
    if let Some(batch) = all_or_nothing
        && (regions.len() != 1 || expect > batch)
    {
        violations.push(violation(
            "all_or_nothing",
            format!("with a selector, all_or_nothing needs exactly one region and expect_at_most at most {batch} (one vendor call); drop all_or_nothing or narrow the selector"),
        ));
    }
    (violations.len() == before).then_some(Selection {
        tags: selector.tags,
        regions: if selector.all_regions {
            Regions::All
        } else {
            Regions::Listed(regions)
        },
        expect_at_most: expect,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::tencent::TencentClient;

    fn tag(key: &str, value: Option<&str>) -> TagMatch {
        TagMatch::new(key, value)
    }

    fn checked(
        selector: SelectorRequest,
        region: &str,
        all_or_nothing: bool,
    ) -> Result<Selection, Vec<String>> {
        let adapter = TencentClient::new(None).unwrap();
        let mut violations = Vec::new();
        let batch = all_or_nothing.then_some(100);
        let config = Config::default();
        match check(&config, &adapter, selector, region, batch, &mut violations) {
            Some(selection) if violations.is_empty() => Ok(selection),
            _ => Err(violations.into_iter().map(|v| v.field).collect()),
        }
    }

    fn dev() -> SelectorRequest {
        SelectorRequest {
            tags: vec![tag("env", Some("dev"))],
            regions: vec!["ap-guangzhou".into()],
            all_regions: false,
            expect_at_most: 10,
        }
    }

    #[test]
    fn a_selector_names_its_tags_regions_and_expected_count() {
        let selection = checked(dev(), "ap-shanghai", false).unwrap();
        assert_eq!(
            selection.regions,
            Regions::Listed(vec!["ap-shanghai".into(), "ap-guangzhou".into()])
        );
        assert_eq!(selection.expect_at_most, 10);
        assert_eq!(selection.tags_text(), "env=dev");
    }

    #[test]
    fn tags_expect_at_most_and_regions_are_required() {
        let empty = SelectorRequest::default();
        assert_eq!(
            checked(empty, "", false).unwrap_err(),
            vec![
                "selector.tags",
                "selector.regions",
                "selector.expect_at_most"
            ]
        );
    }

    #[test]
    fn bad_tags_are_refused_by_name() {
        let mut s = dev();
        s.tags = vec![
            tag("", Some("x")),
            tag("env", Some("dev")),
            tag("env", None),
            tag("k", Some(&"v".repeat(256))),
        ];
        assert_eq!(
            checked(s, "", false).unwrap_err(),
            vec![
                "selector.tags[0].key",
                "selector.tags[2].key",
                "selector.tags[3].value"
            ]
        );
        let mut s = dev();
        s.tags = (0..11).map(|i| tag(&format!("k{i}"), None)).collect();
        assert_eq!(checked(s, "", false).unwrap_err(), vec!["selector.tags"]);
    }

    #[test]
    fn regions_are_known_named_once_and_not_combined_with_all_regions() {
        let mut s = dev();
        s.regions = vec![
            "ap-guangzhou".into(),
            "ap-guangzhou".into(),
            "mars-1".into(),
        ];
        assert_eq!(
            checked(s, "", false).unwrap_err(),
            vec!["selector.regions[1]", "selector.regions[2]"]
        );
        assert_eq!(checked(dev(), "mars-1", false).unwrap_err(), vec!["region"]);
        let mut s = dev();
        s.all_regions = true;
        assert_eq!(
            checked(s, "", false).unwrap_err(),
            vec!["selector.all_regions"]
        );
        let mut s = dev();
        s.regions.clear();
        s.all_regions = true;
        assert_eq!(checked(s, "", false).unwrap().regions, Regions::All);
    }

    #[test]
    fn expect_at_most_is_bounded_by_the_request_limit() {
        let mut s = dev();
        s.expect_at_most = 10_001;
        assert_eq!(
            checked(s, "", false).unwrap_err(),
            vec!["selector.expect_at_most"]
        );
    }

    #[test]
    fn all_or_nothing_needs_one_region_and_one_vendor_call() {
        assert!(checked(dev(), "", true).is_ok());
        assert_eq!(
            checked(dev(), "ap-shanghai", true).unwrap_err(),
            vec!["all_or_nothing"]
        );
        let mut s = dev();
        s.expect_at_most = 101;
        assert_eq!(checked(s, "", true).unwrap_err(), vec!["all_or_nothing"]);
    }
}
