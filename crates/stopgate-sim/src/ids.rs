//! Fresh ids in each vendor's format.

use rand::Rng;

use stopgate_vendor::Provider;

fn random_chars(len: usize, alphabet: &[u8]) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
        .collect()
}

const LOWER_ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
const HEX: &[u8] = b"0123456789abcdef";

/// A new instance id in the vendor's format (`i-` + 20, `ins-` + 8).
pub fn new_instance_id(provider: Provider) -> String {
    match provider {
        Provider::Alibaba => format!("i-bp1{}", random_chars(17, LOWER_ALNUM)),
        Provider::Tencent => format!("ins-{}", random_chars(8, LOWER_ALNUM)),
    }
}

/// A new invocation id (`t-` + 32 hex, `inv-` + 8).
pub fn new_invocation_id(provider: Provider) -> String {
    match provider {
        Provider::Alibaba => format!("t-{}", random_chars(32, HEX)),
        Provider::Tencent => format!("inv-{}", random_chars(8, LOWER_ALNUM)),
    }
}

/// A new command id (`c-` + 32 hex, `cmd-` + 8).
pub fn new_command_id(provider: Provider) -> String {
    match provider {
        Provider::Alibaba => format!("c-{}", random_chars(32, HEX)),
        Provider::Tencent => format!("cmd-{}", random_chars(8, LOWER_ALNUM)),
    }
}

/// A new Tencent task id (`invt-` + 8).
pub fn new_task_id() -> String {
    format!("invt-{}", random_chars(8, LOWER_ALNUM))
}
