//! IM push verification (reference §8): form fields from a POST body (or a
//! GET query), the second URL-decoding, the signature over the push URL as
//! registered, the ±10-minute timestamp rule, and the answers Meituan expects.

use imhub_core::{Push, PushError, PushReply};
use serde::{Deserialize, Serialize};
use url::form_urlencoded;

use crate::{
    im::ImCallbackMsg,
    sign::{self, Params},
};

/// Pushes whose `timestamp` is further than this from our clock are refused
/// (documented ±10 minutes).
pub const MAX_PUSH_SKEW_SECS: i64 = 600;

/// How push values are decoded a second time after the form decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PushDecode {
    /// Decode again every value that contains `%` (the reference's robust
    /// rule: Meituan URL-encodes values before form-encoding the body).
    #[default]
    Auto,
    /// Decode every value again (`+` → space, `%XX` → byte).
    Always,
    /// Take the form-decoded values as they are.
    Never,
}

/// The answer Meituan expects to every accepted push: `{"data":"ok"}`.
pub fn ok_reply() -> PushReply {
    PushReply::json(&serde_json::json!({"data": "ok"}))
}

/// An explicit failure answer in the classic envelope.
pub fn ng_reply(code: i64, msg: &str) -> PushReply {
    PushReply::json(&serde_json::json!({"data": "ng", "error": {"code": code, "msg": msg}}))
}

/// Verifies pushes for one app.
#[derive(Clone)]
pub struct PushVerifier {
    app_id: String,
    app_secret: String,
    /// The registered URL without its query; `None`: the URL each push was
    /// received at ([`request_url`]).
    signed_url: Option<String>,
    /// Parameters of the registered URL's own query; they join the signed set.
    url_params: Params,
    decode: PushDecode,
}

impl std::fmt::Debug for PushVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushVerifier")
            .field("app_id", &self.app_id)
            .field("signed_url", &self.signed_url)
            .finish_non_exhaustive()
    }
}

impl PushVerifier {
    /// A verifier for pushes signed over `registered_url`, the push URL as
    /// registered in the Meituan console.
    pub fn new(
        app_id: impl Into<String>,
        app_secret: impl Into<String>,
        registered_url: &str,
        decode: PushDecode,
    ) -> Self {
        let (signed_url, query) = match registered_url.split_once('?') {
            Some((u, q)) => (u.to_string(), q),
            None => (registered_url.to_string(), ""),
        };
        let url_params = form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        PushVerifier {
            app_id: app_id.into(),
            app_secret: app_secret.into(),
            signed_url: Some(signed_url),
            url_params,
            decode,
        }
    }

    /// A verifier for pushes signed over the URL they were received at
    /// ([`request_url`]), for a channel whose push URL is not configured.
    pub fn at_request_url(
        app_id: impl Into<String>,
        app_secret: impl Into<String>,
        decode: PushDecode,
    ) -> Self {
        PushVerifier {
            app_id: app_id.into(),
            app_secret: app_secret.into(),
            signed_url: None,
            url_params: Params::new(),
            decode,
        }
    }

    /// The URL pushes are signed over (registered URL without query);
    /// `None` when it is rebuilt from each push.
    pub fn signed_url(&self) -> Option<&str> {
        self.signed_url.as_deref()
    }

    /// Verifies a push: signature first (constant time), then `app_id`, then
    /// the timestamp window. `Ok(None)` is an unsigned reachability probe
    /// (no `sig`, `biz_type` or `push_content`): it carries nothing to store,
    /// so it is answered `{"data":"ok"}` as S2 does.
    pub fn verify(&self, push: &Push) -> Result<Option<ImCallbackMsg>, PushError> {
        let first = decoded_fields(push, self.decode)?;
        let has = |name: &str| first.contains_key(name);
        if !has(sign::SIG_PARAM) && !has("biz_type") && !has("push_content") {
            return Ok(None);
        }
        let signed_url = match &self.signed_url {
            Some(url) => url.clone(),
            None => request_url(push).ok_or_else(|| {
                PushError::Malformed("push without Host: its URL cannot be rebuilt".into())
            })?,
        };
        // In `auto` mode a value such as `a+b` without any `%` is ambiguous
        // (a space encoded twice, or a literal plus encoded once), so every
        // decoding is tried and the signature decides which one Meituan
        // signed. `always` and `never` try only themselves.
        let modes: &[PushDecode] = match self.decode {
            PushDecode::Auto => &[PushDecode::Auto, PushDecode::Always, PushDecode::Never],
            PushDecode::Always => &[PushDecode::Always],
            PushDecode::Never => &[PushDecode::Never],
        };
        let mut verified = None;
        for (i, mode) in modes.iter().enumerate() {
            let fields = if i == 0 {
                first.clone()
            } else {
                match decoded_fields(push, *mode) {
                    Ok(f) => f,
                    Err(_) => continue,
                }
            };
            if i > 0 && fields == first {
                continue;
            }
            if self.signature_matches(&signed_url, &fields)? {
                verified = Some(fields);
                break;
            }
        }
        let fields = verified.ok_or(PushError::BadSignature)?;
        let app_id = fields
            .get("app_id")
            .cloned()
            .ok_or_else(|| PushError::Malformed("push without app_id".into()))?;
        if app_id.trim() != self.app_id.trim() {
            // Signed with our secret but naming another app: not ours to take.
            return Err(PushError::BadSignature);
        }
        let timestamp = fields
            .get("timestamp")
            .ok_or_else(|| PushError::Malformed("push without timestamp".into()))?
            .trim()
            .parse::<i64>()
            .map_err(|_| PushError::Malformed("timestamp is not Unix seconds".into()))?;
        let now = push.received_at.millis().div_euclid(1000);
        if (now - timestamp).abs() > MAX_PUSH_SKEW_SECS {
            return Err(PushError::Stale);
        }
        let biz_type = match fields.get("biz_type").map(|b| b.trim()) {
            None | Some("") => None,
            Some(b) => Some(
                b.parse::<i64>()
                    .map_err(|_| PushError::Malformed(format!("biz_type {b:?}")))?,
            ),
        };
        Ok(Some(ImCallbackMsg {
            timestamp,
            app_id,
            sig: fields.get(sign::SIG_PARAM).cloned().unwrap_or_default(),
            biz_type,
            push_content: fields.get("push_content").cloned(),
            form_data: fields,
        }))
    }

    /// Whether `fields` carry a valid `sig` over the registered URL.
    fn signature_matches(&self, signed_url: &str, fields: &Params) -> Result<bool, PushError> {
        let sig = fields.get(sign::SIG_PARAM).ok_or(PushError::BadSignature)?;
        let mut signed = fields.clone();
        signed.remove(sign::SIG_PARAM);
        for (k, v) in &self.url_params {
            signed.entry(k.clone()).or_insert_with(|| v.clone());
        }
        // Whether Meituan signs empty fields is not documented (§2): accept
        // a signature over the fields as received or with empty ones left out.
        let mut without_empty = signed.clone();
        sign::drop_empty(&mut without_empty);
        Ok(sign::verify(signed_url, &signed, &self.app_secret, sig)
            | (without_empty.len() != signed.len()
                && sign::verify(signed_url, &without_empty, &self.app_secret, sig)))
    }
}

/// The URL a push was received at, as the sender addressed it: scheme from
/// `X-Forwarded-Proto` (else `http`, imhub serving plain HTTP), host from
/// `X-Forwarded-Host` (else `Host`), and the request path; no query.
/// Forwarded headers are honoured because a proxy that sets them is what
/// changes the URL; trusting them admits nothing unsigned, since the
/// signature still needs the app secret. `None` without any host.
pub fn request_url(push: &Push) -> Option<String> {
    let first = |name: &str| {
        push.header(name)
            .and_then(|v| v.split(',').next())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let host = first("x-forwarded-host").or_else(|| first("host"))?;
    let scheme = first("x-forwarded-proto")
        .filter(|p| p.eq_ignore_ascii_case("https"))
        .map_or("http", |_| "https");
    Some(format!("{scheme}://{host}{}", push.path))
}

/// All fields of a push, form-decoded and then decoded a second time as
/// configured: the query string (GET probes, or a registered URL with a
/// query) and, for POST, the form body. A name given twice is refused:
/// which of the two was signed would be a guess.
pub fn decoded_fields(push: &Push, decode: PushDecode) -> Result<Params, PushError> {
    let mut fields = Params::new();
    let mut sources: Vec<&[u8]> = Vec::new();
    if let Some(q) = &push.query {
        sources.push(q.as_bytes());
    }
    if !push.method.eq_ignore_ascii_case("GET") {
        sources.push(&push.body);
    }
    for source in sources {
        for (name, value) in form_urlencoded::parse(source) {
            let value = second_decode(&value, decode)?;
            if fields.insert(name.to_string(), value).is_some() {
                return Err(PushError::Malformed(format!("field {name} given twice")));
            }
        }
    }
    Ok(fields)
}

fn second_decode(value: &str, decode: PushDecode) -> Result<String, PushError> {
    let apply = match decode {
        PushDecode::Never => false,
        PushDecode::Always => true,
        PushDecode::Auto => value.contains('%'),
    };
    if !apply {
        return Ok(value.to_string());
    }
    let plus_as_space = value.replace('+', " ");
    match percent_encoding::percent_decode_str(&plus_as_space).decode_utf8() {
        Ok(v) => Ok(v.into_owned()),
        // A value that was not encoded twice may hold a literal `%`; in
        // `auto` mode keep it as received rather than refuse the push.
        Err(_) if decode == PushDecode::Auto => Ok(value.to_string()),
        Err(_) => Err(PushError::Malformed(
            "a field is not UTF-8 after the second URL-decoding".into(),
        )),
    }
}

/// Encodes push fields the way Meituan sends them: each value URL-encoded
/// (form style), then the pairs form-encoded into the body. Used by the
/// sandbox's simulated customers and by tests.
pub fn encode_push_body(fields: &[(&str, &str)], double: bool) -> String {
    let mut body = form_urlencoded::Serializer::new(String::new());
    for (name, value) in fields {
        if double {
            let once: String = form_urlencoded::byte_serialize(value.as_bytes()).collect();
            body.append_pair(name, &once);
        } else {
            body.append_pair(name, value);
        }
    }
    body.finish()
}

#[cfg(test)]
mod tests {
    use imhub_core::Timestamp;

    use super::*;

    const SECRET: &str = "0123456789abcdef0123";
    const URL: &str = "https://hub.example.com/webhooks/meituan/7";

    fn push(body: String, at_secs: i64) -> Push {
        Push {
            method: "POST".into(),
            path: "/webhooks/meituan/7".into(),
            query: None,
            headers: vec![],
            body: body.into_bytes(),
            received_at: Timestamp(at_secs * 1000),
        }
    }

    fn signed_body(ts: i64, content: &str, double: bool) -> String {
        let mut p = Params::new();
        p.insert("app_id".into(), "4321".into());
        p.insert("timestamp".into(), ts.to_string());
        p.insert("biz_type".into(), "1".into());
        p.insert("push_content".into(), content.into());
        let sig = sign::sign(URL, &p, SECRET);
        let ts = ts.to_string();
        encode_push_body(
            &[
                ("app_id", "4321"),
                ("timestamp", &ts),
                ("biz_type", "1"),
                ("push_content", content),
                ("sig", &sig),
            ],
            double,
        )
    }

    fn verifier(decode: PushDecode) -> PushVerifier {
        PushVerifier::new("4321", SECRET, URL, decode)
    }

    const CONTENT: &str = r#"{"msg_content":"ab+c/d==","msg_id":1,"text":"a%b & c"}"#;

    #[test]
    fn doubly_encoded_push_verifies_and_keeps_plus_signs() {
        let msg = verifier(PushDecode::Auto)
            .verify(&push(
                signed_body(1_700_000_000, CONTENT, true),
                1_700_000_000,
            ))
            .unwrap()
            .unwrap();
        assert_eq!(msg.push_content.as_deref(), Some(CONTENT));
        assert_eq!(msg.biz_type, Some(1));
    }

    #[test]
    fn singly_encoded_push_verifies_with_decode_never() {
        let msg = verifier(PushDecode::Never)
            .verify(&push(
                signed_body(1_700_000_000, CONTENT, false),
                1_700_000_000,
            ))
            .unwrap()
            .unwrap();
        assert_eq!(msg.push_content.as_deref(), Some(CONTENT));
    }

    #[test]
    fn auto_mode_lets_the_signature_pick_the_decoding() {
        let v = verifier(PushDecode::Auto);
        // Encoded twice, and the once-encoded value has no `%`: "a b" → "a+b".
        let msg = v
            .verify(&push(
                signed_body(1_700_000_000, "a b", true),
                1_700_000_000,
            ))
            .unwrap()
            .unwrap();
        assert_eq!(msg.push_content.as_deref(), Some("a b"));
        // Encoded once, with a literal `%` and `+`.
        let msg = v
            .verify(&push(
                signed_body(1_700_000_000, CONTENT, false),
                1_700_000_000,
            ))
            .unwrap()
            .unwrap();
        assert_eq!(msg.push_content.as_deref(), Some(CONTENT));
    }

    #[test]
    fn push_older_than_ten_minutes_is_stale() {
        let v = verifier(PushDecode::Auto);
        let body = signed_body(1_700_000_000, CONTENT, true);
        assert!(v.verify(&push(body.clone(), 1_700_000_600)).is_ok());
        assert_eq!(
            v.verify(&push(body.clone(), 1_700_000_601)).unwrap_err(),
            PushError::Stale
        );
        assert_eq!(
            v.verify(&push(body, 1_699_999_399)).unwrap_err(),
            PushError::Stale
        );
    }

    #[test]
    fn signature_over_another_url_or_tampered_field_is_refused() {
        let body = signed_body(1_700_000_000, CONTENT, true);
        let other = PushVerifier::new(
            "4321",
            SECRET,
            "http://hub.example.com/webhooks/meituan/7",
            PushDecode::Auto,
        );
        assert_eq!(
            other
                .verify(&push(body.clone(), 1_700_000_000))
                .unwrap_err(),
            PushError::BadSignature
        );
        let tampered = body.replace("biz_type=1", "biz_type=2");
        assert_eq!(
            verifier(PushDecode::Auto)
                .verify(&push(tampered, 1_700_000_000))
                .unwrap_err(),
            PushError::BadSignature
        );
    }

    #[test]
    fn unsigned_probe_is_answered_without_events() {
        let v = verifier(PushDecode::Auto);
        let mut probe = push(String::new(), 1_700_000_000);
        probe.method = "GET".into();
        assert_eq!(v.verify(&probe).unwrap(), None);
        // But a push with content and no sig is refused.
        let no_sig = encode_push_body(&[("push_content", "{}"), ("biz_type", "1")], true);
        assert_eq!(
            v.verify(&push(no_sig, 1_700_000_000)).unwrap_err(),
            PushError::BadSignature
        );
    }

    #[test]
    fn get_push_reads_the_query() {
        let body = signed_body(1_700_000_000, CONTENT, true);
        let mut p = push(String::new(), 1_700_000_000);
        p.method = "GET".into();
        p.query = Some(body);
        assert!(verifier(PushDecode::Auto).verify(&p).unwrap().is_some());
    }

    #[test]
    fn registered_url_query_joins_the_signed_set() {
        let registered = format!("{URL}?tenant=a");
        let v = PushVerifier::new("4321", SECRET, &registered, PushDecode::Auto);
        assert_eq!(v.signed_url(), Some(URL));
        let mut p = Params::new();
        p.insert("app_id".into(), "4321".into());
        p.insert("timestamp".into(), "1700000000".into());
        p.insert("tenant".into(), "a".into());
        let sig = sign::sign(URL, &p, SECRET);
        let body = encode_push_body(
            &[
                ("app_id", "4321"),
                ("timestamp", "1700000000"),
                ("sig", &sig),
            ],
            true,
        );
        assert!(v.verify(&push(body, 1_700_000_000)).unwrap().is_some());
    }

    #[test]
    fn without_a_registered_url_the_received_url_is_signed() {
        let body = signed_body(1_700_000_000, CONTENT, true);
        let v = PushVerifier::at_request_url("4321", SECRET, PushDecode::Auto);
        assert_eq!(v.signed_url(), None);
        let mut direct = push(body.clone(), 1_700_000_000);
        direct.headers = vec![("host".into(), "hub.example.com".into())];
        // Received over http, signed over https: refused.
        assert_eq!(v.verify(&direct).unwrap_err(), PushError::BadSignature);
        let mut proxied = push(body.clone(), 1_700_000_000);
        proxied.headers = vec![
            ("host".into(), "10.0.0.5:8080".into()),
            ("x-forwarded-proto".into(), "https".into()),
            ("x-forwarded-host".into(), "hub.example.com".into()),
        ];
        assert_eq!(request_url(&proxied).as_deref(), Some(URL));
        assert!(v.verify(&proxied).unwrap().is_some());
        let hostless = push(body, 1_700_000_000);
        assert!(matches!(
            v.verify(&hostless).unwrap_err(),
            PushError::Malformed(_)
        ));
    }

    #[test]
    fn answers_are_meituan_envelopes() {
        assert_eq!(ok_reply().body, br#"{"data":"ok"}"#.to_vec());
        assert_eq!(ok_reply().status, 200);
        assert!(
            String::from_utf8(ng_reply(703, "x").body)
                .unwrap()
                .contains("\"ng\"")
        );
    }
}
