//! The OpenAPI document at `/api/v1/openapi.json`, generated from the
//! handlers' annotations so it cannot drift from the code.
//!
//! Each handler's `#[utoipa::path]` lists its success answers and the error
//! answers peculiar to it, writing the stable problem `code`s each error may
//! carry in backticks in the response's description:
//! `(status = 422, description = "`weak_password`, `invalid_email`")`.
//! [`Contract`] then completes every operation from what the code does for
//! all routes alike, so a new route gets these without anyone remembering:
//!
//! - routes without `security(())` need a bearer token or the session
//!   cookie: 401 `unauthorized`; a route whose summary or description says
//!   "Admin only" (or "403 `forbidden`") answers agents 403 `forbidden` (and carries
//!   `x-imhub-role: admin`); a route that changes something (not GET)
//!   answers a cookie from another origin 403 `cross_origin`;
//! - a route with a JSON body (an [`ApiJson`](super::ApiJson)) answers 400
//!   `malformed_json`, 413 `body_too_large`, 415 `unsupported_media_type`
//!   and 422 `invalid_request`; a route with other bodies 413;
//! - a route with path parameters answers 404 `not_found`, one with query
//!   parameters 400 `invalid_query`;
//! - a route tagged `douyin` answers what any Douyin call may (422
//!   `douyin_error`, `account_needs_reauthorization`,
//!   `account_not_authorized`, `invalid_request`, `channel_unavailable`;
//!   429 `douyin_rate_limited`; 502 `douyin_unavailable`), one tagged
//!   `tencent` 422 `invalid_request` and 502 `platform_error`;
//! - every route may answer 503 `busy` / `shutting_down` and 500 `internal`;
//! - every error answer is `application/problem+json` with the [`Problem`]
//!   schema, its `code` an enum of the codes listed for that status.
//!
//! The fuzzer in `.ci/fuzz-api` and `tests/contract.rs` hold the code to it.

use std::collections::BTreeSet;

use axum::{Json, Router, routing::get};
use utoipa::{
    Modify, OpenApi,
    openapi::{
        ContentBuilder, Ref, RefOr, ResponseBuilder,
        extensions::ExtensionsBuilder,
        path::{Operation, ParameterIn},
        schema::{AllOfBuilder, KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type},
        security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme},
    },
};

use crate::{AppState, auth::SESSION_COOKIE, error::Problem};

/// The `openapi` routes, nested under `/api/v1`.
pub fn routes() -> Router<AppState> {
    Router::new().route("/openapi.json", get(|| async { Json(spec()) }))
}

/// The served document (built per request: it is small and cheap).
pub fn spec() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// Content type of every error answer.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Marker in a route's summary or description for routes agents may not use
/// (so is "403 `forbidden`"); line breaks in it do not matter.
pub const ADMIN_ONLY: &str = "Admin only";

/// The body of a file upload: the bytes themselves, not empty (an empty
/// one is a 400 `empty_upload`).
pub struct Upload;

impl utoipa::PartialSchema for Upload {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .min_length(Some(1))
            .description(Some("The file's bytes; not empty."))
            .into()
    }
}

impl utoipa::ToSchema for Upload {}

/// Declares the two ways to authenticate: an API token as a bearer token,
/// or the inbox's session cookie.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API token (`imh_…`) from `POST /api/v1/tokens` or `imhub workspace create`.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                SESSION_COOKIE,
                "The web inbox's login session, set by `POST /api/v1/session`.",
            ))),
        );
        components.add_security_scheme(
            OPERATOR_SCHEME,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The operator token of the server's configuration (`operator_token`, \
                         `IMHUB_OPERATOR_TOKEN`), for `/api/v1/operator/...` only; a \
                         workspace's token or session is not it.",
                    ))
                    .build(),
            ),
        );
    }
}

/// The security scheme of the operator API (issue 15).
pub const OPERATOR_SCHEME: &str = "operator_token";

/// Whether an operation is authenticated by the operator token.
fn operator_route(op: &Operation) -> bool {
    op.security.as_ref().is_some_and(|reqs| {
        reqs.iter()
            .any(|r| serde_json::to_value(r).is_ok_and(|v| v.get(OPERATOR_SCHEME).is_some()))
    })
}

/// The workspace routes that operator quotas can refuse (issue 15), with
/// the status and code: creating channels and users past a quota, an API
/// send past the messages per day.
const QUOTA_REFUSALS: &[(&str, &str, u16, &str)] = &[
    (
        "post",
        "/api/v1/channels",
        422,
        "`quota_exceeded`: the workspace's channels quota",
    ),
    (
        "post",
        "/api/v1/users",
        422,
        "`quota_exceeded`: the workspace's users quota",
    ),
    (
        "post",
        "/api/v1/conversations/{id}/messages",
        429,
        "`quota_exceeded`: the workspace's messages per day are sent; `Retry-After` says when \
         the next UTC day begins",
    ),
];

/// Adds [`QUOTA_REFUSALS`] to their routes (before [`Contract`] turns
/// every error answer into a problem document with its codes).
struct QuotaRefusals;

impl Modify for QuotaRefusals {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (method, path, status, text) in QUOTA_REFUSALS {
            let Some(item) = openapi.paths.paths.get_mut(*path) else {
                continue;
            };
            let op = match *method {
                "post" => item.post.as_mut(),
                _ => None,
            };
            let Some(op) = op else { continue };
            let entry = op
                .responses
                .responses
                .entry(status.to_string())
                .or_insert_with(|| ResponseBuilder::new().description("").build().into());
            if let RefOr::T(response) = entry {
                response.description = if response.description.is_empty() {
                    (*text).to_string()
                } else {
                    format!("{}; {text}", response.description)
                };
            }
        }
    }
}

/// Completes every operation with the answers all routes share; see the
/// module documentation.
struct Contract;

/// What [`Contract`] learns about one operation before completing it.
struct Shape {
    authenticated: bool,
    /// Authenticated by the operator token, not a workspace's credentials.
    operator: bool,
    writes: bool,
    admin_only: bool,
    json_body: bool,
    other_body: bool,
    path_params: bool,
    query_params: bool,
    /// The platform the route's tag names, if any.
    tag: Option<String>,
}

impl Shape {
    fn of(method: &str, op: &Operation) -> Shape {
        let text = format!(
            "{} {}",
            op.summary.as_deref().unwrap_or_default(),
            op.description.as_deref().unwrap_or_default()
        )
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
        // `security(())` is an empty requirement: callable without credentials.
        let public = op.security.as_ref().is_some_and(|reqs| {
            reqs.iter().any(|r| {
                serde_json::to_value(r).is_ok_and(|v| v.as_object().is_some_and(|o| o.is_empty()))
            })
        });
        let body_types: Vec<&str> = op
            .request_body
            .iter()
            .flat_map(|b| b.content.keys())
            .map(String::as_str)
            .collect();
        let json_body = body_types.iter().any(|t| is_json(t));
        let params = op.parameters.as_deref().unwrap_or_default();
        Shape {
            authenticated: !public,
            operator: operator_route(op),
            writes: !matches!(method, "get" | "head" | "options"),
            admin_only: text.contains(ADMIN_ONLY) || text.contains("403 `forbidden`"),
            json_body,
            other_body: !json_body && !body_types.is_empty(),
            path_params: params
                .iter()
                .any(|p| matches!(p.parameter_in, ParameterIn::Path)),
            query_params: params
                .iter()
                .any(|p| matches!(p.parameter_in, ParameterIn::Query)),
            tag: op.tags.as_ref().and_then(|t| t.first()).cloned(),
        }
    }

    /// The (status, codes) every operation of this shape may answer.
    fn shared_problems(&self) -> Vec<(u16, &'static [&'static str])> {
        let mut out: Vec<(u16, &'static [&'static str])> = Vec::new();
        if self.authenticated {
            out.push((401, &["unauthorized"]));
        }
        if self.admin_only {
            out.push((403, &["forbidden"]));
        }
        if self.authenticated && self.writes && !self.operator {
            out.push((403, &["cross_origin"]));
        }
        // Every workspace route refuses a suspended workspace (issue 15).
        if self.authenticated && !self.operator {
            out.push((403, &["workspace_suspended"]));
        }
        if self.json_body {
            out.push((400, &["malformed_json"]));
            out.push((413, &["body_too_large"]));
            out.push((415, &["unsupported_media_type"]));
            out.push((422, &["invalid_request"]));
        }
        if self.other_body {
            out.push((400, &["unreadable_body"]));
            out.push((413, &["body_too_large"]));
        }
        if self.path_params {
            out.push((404, &["not_found"]));
        }
        if self.query_params {
            out.push((400, &["invalid_query"]));
        }
        match self.tag.as_deref() {
            Some("douyin") => {
                out.push((
                    422,
                    &[
                        "douyin_error",
                        "account_needs_reauthorization",
                        "account_not_authorized",
                        "invalid_request",
                        "channel_unavailable",
                    ],
                ));
                out.push((429, &["douyin_rate_limited"]));
                out.push((502, &["douyin_unavailable"]));
            }
            Some("tencent") => {
                out.push((422, &["invalid_request"]));
                out.push((502, &["platform_error"]));
            }
            _ => {}
        }
        out.push((500, &["internal"]));
        out.push((503, &["busy", "shutting_down"]));
        out
    }
}

/// `application/json` or any `+json` type.
pub fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || essence
            .strip_prefix("application/")
            .is_some_and(|sub| sub.ends_with("+json"))
}

/// The snake_case words written in backticks in a response description.
fn codes_in(description: &str) -> Vec<String> {
    description
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|w| {
            !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        })
        .map(str::to_string)
        .collect()
}

/// The problem schema with `code` narrowed to `codes`.
fn problem_schema(codes: &BTreeSet<String>) -> RefOr<Schema> {
    let problem = RefOr::Ref(Ref::from_schema_name("Problem"));
    if codes.is_empty() {
        return problem;
    }
    let narrowed = ObjectBuilder::new().property(
        "code",
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(codes.iter().cloned())),
    );
    AllOfBuilder::new().item(problem).item(narrowed).into()
}

/// Every operation with its method, lowercase.
fn operations(
    openapi: &mut utoipa::openapi::OpenApi,
) -> impl Iterator<Item = (&'static str, &mut Operation)> {
    openapi.paths.paths.values_mut().flat_map(|item| {
        [
            ("get", item.get.as_mut()),
            ("put", item.put.as_mut()),
            ("post", item.post.as_mut()),
            ("delete", item.delete.as_mut()),
            ("options", item.options.as_mut()),
            ("head", item.head.as_mut()),
            ("patch", item.patch.as_mut()),
            ("trace", item.trace.as_mut()),
        ]
        .into_iter()
        .filter_map(|(method, op)| op.map(|op| (method, op)))
    })
}

/// Marks an upload's body required: utoipa cannot tell from [`Upload`]
/// (not an `Option`), and a missing body is the empty upload it refuses.
fn require_uploads(op: &mut Operation) {
    let upload = Ref::from_schema_name("Upload");
    if let Some(body) = op.request_body.as_mut()
        && !body.content.is_empty()
        && body
            .content
            .values()
            .all(|c| matches!(&c.schema, Some(RefOr::Ref(r)) if *r == upload))
    {
        body.required = Some(utoipa::openapi::Required::True);
    }
}

impl Modify for Contract {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (method, op) in operations(openapi) {
            require_uploads(op);
            let shape = Shape::of(method, op);
            if shape.admin_only {
                op.extensions.get_or_insert_with(Default::default).merge(
                    ExtensionsBuilder::new()
                        .add("x-imhub-role", "admin")
                        .build(),
                );
            }
            let responses = &mut op.responses.responses;
            for (status, codes) in shape.shared_problems() {
                let entry = responses
                    .entry(status.to_string())
                    .or_insert_with(|| ResponseBuilder::new().description("").build().into());
                if let RefOr::T(response) = entry {
                    let listed = codes_in(&response.description);
                    let missing: Vec<&str> = codes
                        .iter()
                        .copied()
                        .filter(|c| !listed.iter().any(|l| l == c))
                        .collect();
                    if !missing.is_empty() {
                        let more = missing
                            .iter()
                            .map(|c| format!("`{c}`"))
                            .collect::<Vec<_>>()
                            .join(", ");
                        response.description = if response.description.is_empty() {
                            more
                        } else {
                            format!("{}; {more}", response.description)
                        };
                    }
                }
            }
            for (status, entry) in responses.iter_mut() {
                let RefOr::T(response) = entry else { continue };
                if !status.starts_with('4') && !status.starts_with('5') {
                    continue;
                }
                let codes: BTreeSet<String> = codes_in(&response.description).into_iter().collect();
                if response.description.is_empty() {
                    response.description = "A problem document.".into();
                }
                response.content.clear();
                response.content.insert(
                    PROBLEM_JSON.to_string(),
                    ContentBuilder::new()
                        .schema(Some(problem_schema(&codes)))
                        .build(),
                );
            }
        }
    }
}

/// imhub's HTTP API.
#[derive(OpenApi)]
#[openapi(
    info(title = "imhub", description = "One inbox for Douyin, Tencent IM and Meituan customer messages. \
        Errors are `application/problem+json` documents with a stable snake_case `code`; each response \
        lists the codes it may carry. JSON bodies need `Content-Type: application/json` (or `+json`)."),
    security(("bearer" = []), ("session" = [])),
    modifiers(&SecuritySchemes, &QuotaRefusals, &Contract),
    paths(
        super::session::login, super::session::current, super::session::logout,
        super::tokens::create_token, super::tokens::create_user,
        super::session::logout_everywhere, super::session::change_password,
        super::tokens::list_tokens, super::tokens::revoke_token,
        super::users::list, super::users::update, super::users::remove, super::users::reset_password,
        super::channels::create, super::channels::list, super::channels::fetch,
        super::accounts::create, super::accounts::list, super::accounts::fetch,
        super::conversations::list, super::conversations::fetch,
        super::conversations::update, super::conversations::read,
        super::messages::list, super::messages::send, super::messages::fetch,
        super::messages::recall, super::messages::retry,
        super::events::stream, super::media::upload,
        super::webhooks::create, super::webhooks::list, super::webhooks::remove,
        super::webhooks::deliveries,
        super::tencent::import, super::tencent::broadcast, super::tencent::import_account, super::tencent::create_group, super::tencent::group_history,
        super::douyin::create_authorize_url, super::douyin::oauth_callback, super::douyin::upload_image, super::douyin::create_card_template, super::douyin::update_card_template, super::douyin::list_card_templates, super::douyin::delete_card_template, super::douyin::group_quota, super::douyin::message_media, super::douyin::create_group, super::douyin::list_groups, super::douyin::set_group_setting, super::douyin::disable_group_setting, super::douyin::list_join_requests, super::douyin::decide_join_request, super::douyin::create_lead_card, super::douyin::update_lead_card, super::douyin::list_lead_cards, super::douyin::delete_lead_card,
        super::meituan::channel_status, super::meituan::conversation_order, super::meituan::metrics,
        super::notes::create, super::notes::mentions, super::notes::read_mentions, super::labels::list, super::labels::create, super::labels::update, super::labels::remove, super::labels::set_conversation, super::labels::bulk, super::labels::set_contact, super::quick_replies::list, super::quick_replies::create, super::quick_replies::fetch, super::quick_replies::update, super::quick_replies::remove, super::quick_replies::render, super::contacts::fetch, super::contacts::update, super::contacts::for_conversation,
        super::search::search,
        super::leads::list, super::leads::fetch, super::leads::update, super::leads::bulk, super::leads::history, super::leads::settings, super::leads::set_settings, super::leads::proposals, super::leads::accept, super::leads::reject, super::leads::export,
        super::reports::waiting, super::reports::settings, super::reports::set_settings, super::reports::summary, super::reports::distribution, super::reports::agents, super::reports::accounts, super::reports::turns_csv, super::reports::conversations_csv,
        super::automation::list, super::automation::create, super::automation::fetch, super::automation::update, super::automation::remove, super::automation::reorder, super::automation::test, super::automation::stats, super::automation::settings, super::automation::set_settings,
        super::alert_targets::list, super::alert_targets::create, super::alert_targets::read, super::alert_targets::update, super::alert_targets::remove, super::alert_targets::test, super::alert_targets::deliveries, super::alert_targets::read_settings, super::alert_targets::write_settings,
        super::operator::list, super::operator::create, super::operator::fetch, super::operator::rename, super::operator::remove, super::operator::suspend, super::operator::resume, super::operator::create_admin, super::operator::create_token, super::operator::quotas, super::operator::set_quotas,
        super::channels::update, super::channels::disconnect, super::channels::health,
        super::accounts::update, super::session::update_profile, super::webhooks::retry_delivery,
        super::kept_pushes::list, super::kept_pushes::replay, super::kept_pushes::replay_all,
        super::assignment::assign, super::assignment::take, super::assignment::account_settings, super::assignment::set_account_settings, super::team::agents, super::team::settings, super::team::set_settings, super::team::set_capacity, super::team::set_availability, super::conversations::counts,
    ),
    components(schemas(
        Problem, imhub_core::Content, imhub_core::Message,
        imhub_core::Conversation, imhub_core::Account, imhub_core::ChannelInfo,
        crate::channels::custom::CustomPush, crate::channels::custom::CustomDelivery,
    ))
)]
pub struct ApiDoc;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_types_are_recognized_and_others_are_not() {
        assert!(is_json("application/json"));
        assert!(is_json("Application/JSON; charset=utf-8"));
        assert!(is_json("application/merge-patch+json"));
        assert!(!is_json("text/plain"));
        assert!(!is_json("application/jsonx"));
        assert!(!is_json("text/json+x"));
        assert!(!is_json(""));
    }

    #[test]
    fn codes_are_read_from_backticks_only() {
        assert_eq!(
            codes_in("`weak_password` or `invalid_email`; see `Retry-After`"),
            vec!["weak_password", "invalid_email"]
        );
        assert!(codes_in("no codes here").is_empty());
    }

    #[test]
    fn uploads_need_a_body_and_platform_routes_list_the_platforms_codes() {
        let doc = serde_json::to_value(spec()).unwrap();
        for path in ["/api/v1/media", "/api/v1/douyin/channels/{id}/images"] {
            assert_eq!(
                doc["paths"][path]["post"]["requestBody"]["required"], true,
                "{path}"
            );
        }
        let images = &doc["paths"]["/api/v1/douyin/channels/{id}/images"]["post"]["responses"];
        for (status, code) in [
            ("400", "empty_upload"),
            ("422", "douyin_error"),
            ("429", "douyin_rate_limited"),
            ("502", "douyin_unavailable"),
        ] {
            assert!(
                codes_in(images[status]["description"].as_str().unwrap())
                    .contains(&code.to_string()),
                "{status} {code}"
            );
        }
        let import = &doc["paths"]["/api/v1/tencent/channels/{id}/imports"]["post"]["responses"];
        let codes = codes_in(import["422"]["description"].as_str().unwrap());
        assert!(codes.contains(&"invalid_import".to_string()), "{codes:?}");
        assert!(codes.contains(&"invalid_request".to_string()), "{codes:?}");
    }

    #[test]
    fn every_error_answer_is_a_problem_document_with_its_codes() {
        let doc = serde_json::to_value(spec()).unwrap();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                for (status, response) in op["responses"].as_object().unwrap() {
                    if status.starts_with('4') || status.starts_with('5') {
                        let content = response["content"].as_object().unwrap();
                        assert_eq!(
                            content.keys().collect::<Vec<_>>(),
                            vec![PROBLEM_JSON],
                            "{method} {path} {status}"
                        );
                    }
                }
                let public = op["security"] == serde_json::json!([{}]);
                let unauthorized = op["responses"]["401"]["description"]
                    .as_str()
                    .is_some_and(|d| d.contains("`unauthorized`"));
                assert_eq!(
                    unauthorized, !public,
                    "{method} {path}: 401 `unauthorized` documented exactly when credentials are needed"
                );
            }
        }
    }
}
