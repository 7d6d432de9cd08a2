//! The request signature `sig` (reference §2): MD5 over the URL without its
//! query, `?`, the parameters sorted by name in byte order and joined as
//! `name=value` with `&`, and the app secret appended directly. The same rule
//! signs our calls and verifies Meituan's pushes (§8).

use std::collections::BTreeMap;

use md5::{Digest, Md5};
use subtle::ConstantTimeEq;

/// The name of the signature parameter; it is never part of what is signed.
pub const SIG_PARAM: &str = "sig";

/// The parameters of one request, sorted by name in byte order (a `BTreeMap`
/// over `String` orders by UTF-8 bytes, which is ASCII order for the
/// snake_case names Meituan uses). Values are raw text, never URL-encoded.
pub type Params = BTreeMap<String, String>;

/// The exact text that is hashed: `url?a=1&b=2` followed by the secret.
///
/// `url` must be scheme + host + path without a query, exactly as requested
/// (the scheme matters: `http` and `https` give different signatures). `sig`
/// is skipped if present. Empty values are kept here; callers that build
/// requests drop them before signing *and* sending (see [`drop_empty`]).
pub fn string_to_sign(url: &str, params: &Params, secret: &str) -> String {
    let mut text = String::with_capacity(url.len() + secret.len() + 64);
    text.push_str(url);
    text.push('?');
    let mut first = true;
    for (name, value) in params {
        if name == SIG_PARAM {
            continue;
        }
        if !first {
            text.push('&');
        }
        first = false;
        text.push_str(name);
        text.push('=');
        text.push_str(value);
    }
    text.push_str(secret);
    text
}

/// The `sig` value: lowercase hex MD5 of [`string_to_sign`] (32 characters).
pub fn sign(url: &str, params: &Params, secret: &str) -> String {
    hex::encode(Md5::digest(string_to_sign(url, params, secret).as_bytes()))
}

/// Whether `sig` is the signature of these parameters, compared in constant
/// time. Upper-case hex is accepted: the hash is the same either way.
pub fn verify(url: &str, params: &Params, secret: &str, sig: &str) -> bool {
    let expected = sign(url, params, secret);
    let given = sig.trim().to_ascii_lowercase();
    expected.as_bytes().ct_eq(given.as_bytes()).into()
}

/// Removes parameters whose value is empty or the text `null`, as the official
/// SDK does before signing and sending (§2 edge rules): if we never send an
/// empty parameter, the question of how the gateway signs one never arises.
pub fn drop_empty(params: &mut Params) {
    params.retain(|_, v| !v.is_empty() && v != "null");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const URL: &str = "https://waimaiopen.meituan.com/api/v1/order/getOrderDaySeq";
    const SECRET: &str = "a00ba58f000001aa697ab000006d52d";

    #[test]
    fn string_to_sign_sorts_by_name_and_keeps_chinese_raw() {
        let p = params(&[
            ("timestamp", "1389751221"),
            ("app_poi_code", "31号测试店"),
            ("app_id", "0000"),
            ("sig", "ignored"),
        ]);
        assert_eq!(
            string_to_sign(URL, &p, SECRET),
            "https://waimaiopen.meituan.com/api/v1/order/getOrderDaySeq?app_id=0000&app_poi_code=31号测试店&timestamp=1389751221a00ba58f000001aa697ab000006d52d"
        );
    }

    /// The public test vector of reference §2 (S9: a JS Meituan SDK's jest
    /// test, code-index id 38856126970): its own secret, URL and parameters
    /// give its published `sig`, so our algorithm is the platform's.
    #[test]
    fn public_test_vector_reproduces() {
        let p = params(&[
            ("app_id", "0000"),
            ("timestamp", "1389751221"),
            ("app_poi_code", "31号测试店"),
        ]);
        let secret = "864be81325af06a24a806277bb084701";
        assert_eq!(sign(URL, &p, secret), "95f7dc02f936cdd293d3aa8ec881eaa4");
        assert!(verify(URL, &p, secret, "95f7dc02f936cdd293d3aa8ec881eaa4"));
        // Bad input: one character of the value, the secret or the URL off.
        let mut other = p.clone();
        other.insert("app_poi_code".into(), "31号测试店 ".into());
        assert!(!verify(
            URL,
            &other,
            secret,
            "95f7dc02f936cdd293d3aa8ec881eaa4"
        ));
        assert!(!verify(
            URL,
            &p,
            "864be81325af06a24a806277bb084700",
            "95f7dc02f936cdd293d3aa8ec881eaa4"
        ));
        let http = URL.replacen("https", "http", 1);
        assert!(!verify(
            &http,
            &p,
            secret,
            "95f7dc02f936cdd293d3aa8ec881eaa4"
        ));
    }

    /// Known answer computed independently (`printf '%s' '<string>' | md5sum`)
    /// over the same parameters with another secret.
    #[test]
    fn signature_matches_known_answer() {
        let p = params(&[
            ("app_id", "0000"),
            ("app_poi_code", "31号测试店"),
            ("timestamp", "1389751221"),
        ]);
        assert_eq!(sign(URL, &p, SECRET), "488c2c2302262b62e3666a4aa4b48083");
        // The scheme is part of what is signed.
        let http = URL.replacen("https", "http", 1);
        assert_eq!(sign(&http, &p, SECRET), "6e7f708637606e1a8c28f4034f9af55a");
        // So is the path's case.
        let lower = URL.replace("getOrderDaySeq", "getorderdayseq");
        assert_ne!(sign(&lower, &p, SECRET), sign(URL, &p, SECRET));
    }

    #[test]
    fn verify_accepts_the_right_sig_in_either_case_and_refuses_others() {
        let p = params(&[("app_id", "0000"), ("timestamp", "1389751221")]);
        let sig = sign(URL, &p, SECRET);
        assert!(verify(URL, &p, SECRET, &sig));
        assert!(verify(URL, &p, SECRET, &sig.to_uppercase()));
        assert!(!verify(URL, &p, "other", &sig));
        assert!(!verify(URL, &p, SECRET, "00"));
    }

    #[test]
    fn empty_and_null_params_are_dropped() {
        let mut p = params(&[("a", ""), ("b", "null"), ("c", "0")]);
        drop_empty(&mut p);
        assert_eq!(p, params(&[("c", "0")]));
    }
}
