//! JSON → XML as Alibaba renders RPC responses for `Format=XML` (and V2 requests with no
//! `Format`, docs/vendors/alibaba.md, §1.2): the root is `<ActionResponse>`, a list is repeated elements.

use serde_json::Value;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn write_element(out: &mut String, name: &str, value: &Value) {
    match value {
        Value::Array(items) => {
            for item in items {
                write_element(out, name, item);
            }
        }
        Value::Object(map) => {
            out.push_str(&format!("<{name}>"));
            for (key, child) in map {
                write_element(out, key, child);
            }
            out.push_str(&format!("</{name}>"));
        }
        Value::Null => out.push_str(&format!("<{name}/>")),
        Value::String(s) => out.push_str(&format!("<{name}>{}</{name}>", escape(s))),
        other => out.push_str(&format!("<{name}>{other}</{name}>")),
    }
}

/// The XML document for `value` under a root element `root`.
pub fn to_xml(root: &str, value: &Value) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    write_element(&mut out, root, value);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lists_become_repeated_elements_under_their_wrapper() {
        let value = json!({"RequestId": "R1", "InstanceResponses": {"InstanceResponse": [
            {"InstanceId": "i-a", "Code": "200"}, {"InstanceId": "i-b", "Code": "200"}]}});
        assert_eq!(
            to_xml("StopInstancesResponse", &value),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><StopInstancesResponse><InstanceResponses><InstanceResponse><Code>200</Code><InstanceId>i-a</InstanceId></InstanceResponse><InstanceResponse><Code>200</Code><InstanceId>i-b</InstanceId></InstanceResponse></InstanceResponses><RequestId>R1</RequestId></StopInstancesResponse>"
        );
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            to_xml("E", &json!({"M": "a<b&c"})),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><E><M>a&lt;b&amp;c</M></E>"
        );
    }
}
