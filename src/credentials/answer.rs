//! What STS and the metadata services answer: bounded reads, expiry times, short error text.

use std::time::Duration;

use serde_json::Value;
use time::OffsetDateTime;
use time::macros::format_description;

use super::Fetched;
use crate::config::{Credentials, Secret};

/// The largest answer read: a credentials answer is well under 4 KiB.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// The status and body of an answer, read up to [`MAX_ANSWER_BYTES`]. `what` names the call
/// in errors. Transport errors never show the URL (an OIDC token travels in it).
pub async fn read(request: reqwest::RequestBuilder, what: &str) -> Result<(u16, String), String> {
    let mut response = request
        .send()
        .await
        .map_err(|e| format!("{what}: the HTTP call failed ({})", e.without_url()))?;
    let status = response.status().as_u16();
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| format!("{what}: reading the answer failed ({})", e.without_url()))?
    {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(format!(
                "{what}: the answer (HTTP {status}) is over {MAX_ANSWER_BYTES} bytes; check the endpoint is the vendor's"
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// The time left until an Alibaba `Expiration` (`2026-11-30T09:01:55Z`, UTC, no fraction).
pub fn until_utc(expiration: &str, what: &str) -> Result<Duration, String> {
    let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    let at = time::PrimitiveDateTime::parse(expiration, format)
        .map_err(|_| {
            format!("{what}: Expiration {expiration:?} is not a UTC time like 2026-11-30T09:01:55Z")
        })?
        .assume_utc();
    left(at, what)
}

/// The time left until a Tencent `ExpiredTime` (Unix seconds).
pub fn until_unix(expired_time: i64, what: &str) -> Result<Duration, String> {
    let at = OffsetDateTime::from_unix_timestamp(expired_time)
        .map_err(|_| format!("{what}: ExpiredTime {expired_time} is not a Unix time"))?;
    left(at, what)
}

fn left(at: OffsetDateTime, what: &str) -> Result<Duration, String> {
    let left = at - OffsetDateTime::now_utc();
    Duration::try_from(left)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            format!("{what}: the credentials expired at {at} already; check this machine's clock")
        })
}

/// Where keys were looked for, as errors name it: `"the answer has"` (the metadata services)
/// or `"the answer's Credentials have"` (STS).
pub type Place = &'static str;

/// The non-empty string `name` of `keys`, or an error saying `place` has none.
fn required<'a>(keys: &'a Value, name: &str, place: Place, what: &str) -> Result<&'a str, String> {
    keys.get(name)
        .and_then(Value::as_str)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| format!("{what}: {place} no {name}"))
}

/// Alibaba temporary credentials, as both STS and the ECS metadata service give them:
/// `AccessKeyId`, `AccessKeySecret`, `SecurityToken` and `Expiration` (UTC).
pub fn alibaba_keys(keys: &Value, place: Place, what: &str) -> Result<Fetched, String> {
    let field = |name: &str| required(keys, name, place, what);
    Ok(Fetched {
        credentials: Credentials {
            access_key_id: Secret::new(field("AccessKeyId")?),
            secret: Secret::new(field("AccessKeySecret")?),
            token: Some(Secret::new(field("SecurityToken")?)),
        },
        lifetime: Some(until_utc(field("Expiration")?, what)?),
    })
}

/// Tencent temporary credentials, as both STS and the CVM metadata service give them:
/// `TmpSecretId`, `TmpSecretKey` and `Token` in `keys`, living until `expired_time`.
pub fn tencent_keys(
    keys: &Value,
    place: Place,
    expired_time: Option<i64>,
    what: &str,
) -> Result<Fetched, String> {
    let expired_time =
        expired_time.ok_or_else(|| format!("{what}: the answer has no ExpiredTime"))?;
    let field = |name: &str| required(keys, name, place, what);
    Ok(Fetched {
        credentials: Credentials {
            access_key_id: Secret::new(field("TmpSecretId")?),
            secret: Secret::new(field("TmpSecretKey")?),
            token: Some(Secret::new(field("Token")?)),
        },
        lifetime: Some(until_unix(expired_time, what)?),
    })
}

/// A metadata service's credentials answer, once its `Code` is `Success`; otherwise an error
/// ending with `advice`.
pub fn metadata_json(body: &str, what: &str, advice: &str) -> Result<Value, String> {
    let json: Value = serde_json::from_str(body)
        .map_err(|_| format!("{what}: the answer is not JSON ({:?})", short(body)))?;
    let code = required(&json, "Code", "the answer has", what)?;
    if code != "Success" {
        return Err(format!(
            "{what}: the metadata service answered Code {code:?}; {advice}"
        ));
    }
    Ok(json)
}

/// At most 200 characters of a vendor's message, for an error.
pub fn short(text: &str) -> String {
    let mut out: String = text.chars().take(200).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out
}

/// `text` with each of `secrets` replaced.
pub fn redact(text: &str, secrets: &[&str]) -> String {
    secrets
        .iter()
        .filter(|s| s.len() >= 4)
        .fold(text.to_string(), |out, s| out.replace(*s, "[REDACTED]"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_times_are_read_as_the_vendors_write_them() {
        let in_an_hour = OffsetDateTime::now_utc() + Duration::from_secs(3600);
        let alibaba = in_an_hour
            .format(format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
            ))
            .unwrap();
        let left = until_utc(&alibaba, "t").unwrap();
        assert!(left > Duration::from_secs(3590) && left <= Duration::from_secs(3600));
        assert!(until_utc("2026-11-30T09:01:55.000Z", "t").is_err());
        let left = until_unix(in_an_hour.unix_timestamp(), "t").unwrap();
        assert!(left > Duration::from_secs(3590));
        assert!(until_unix(1_000, "t").unwrap_err().contains("clock"));
    }
}
