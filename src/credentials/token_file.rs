//! The OIDC token a Kubernetes cluster projects into the pod (ACK RRSA, TKE): rotated by the
//! kubelet, so read again on every exchange.

use std::io::Read;
use std::path::Path;

/// The longest token read: the vendors accept up to 20,000 characters.
const MAX_TOKEN_BYTES: u64 = 20_000;

/// Reads the token whole, without its trailing newline.
pub fn read_token_file(path: &Path) -> Result<String, String> {
    let file = std::fs::File::open(path).map_err(|e| {
        format!(
            "cannot read the OIDC token file {} ({e}); check token_file and that the service account token is projected into the pod",
            path.display()
        )
    })?;
    let mut text = String::new();
    file.take(MAX_TOKEN_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read the OIDC token file {} ({e})", path.display()))?;
    if text.len() as u64 > MAX_TOKEN_BYTES {
        return Err(format!(
            "the OIDC token file {} is longer than {MAX_TOKEN_BYTES} bytes: it is not a token",
            path.display()
        ));
    }
    let token = text.trim_end_matches(['\n', '\r']).to_string();
    if token.is_empty() {
        return Err(format!(
            "the OIDC token file {} is empty; check that the service account token is projected into the pod",
            path.display()
        ));
    }
    Ok(token)
}
