//! The operator page (`/operator`, issue 15) in real Chromium, from a fresh
//! `imhub serve` whose operator token comes from `IMHUB_OPERATOR_TOKEN`: a
//! wrong token is refused; with the right one the operator creates a
//! workspace, renames it, gives it a first admin (the generated password
//! shown once, and it logs in), sets a quota, suspends it (its API answers
//! 403 `workspace_suspended`) and resumes it, and deletes it after typing
//! its name (a wrong name keeps it); the token stays in sessionStorage only;
//! the page in English has no catalogue key showing.
//!
//! Screenshots land in `target/screenshots/console-operator-*.png`.

use serde_json::json;

use crate::{
    browser::{ENTER, browser},
    serve::{Imhub, OPERATOR_TOKEN, fill, text},
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_page_provisions_suspends_and_deletes_a_workspace() {
    let imhub = Imhub::start("operator", "已有的店").await;
    let Some(b) = browser(1100, 900).await else {
        return;
    };
    let page = format!("{}/operator", imhub.base);
    b.client.goto(&page).await.unwrap();
    b.until(
        "the token form",
        "!document.querySelector('#op-token-form').hidden",
    )
    .await;
    b.type_into("#op-token", &format!("wrong-operator-token-000{ENTER}"))
        .await;
    b.until("the refusal", "!document.querySelector('#op-error').hidden")
        .await;
    assert!(text(&b, "#op-error").await.contains("运营令牌不正确"));
    b.type_into("#op-token", &format!("{OPERATOR_TOKEN}{ENTER}"))
        .await;
    b.until(
        "the workspace list",
        "!document.querySelector('#op-main').hidden",
    )
    .await;
    let stored = b
        .js("return [sessionStorage.getItem('imhub.operator_token'), Object.keys(localStorage).filter(k => localStorage.getItem(k).includes('operator-token')).length, document.cookie]")
        .await;
    assert_eq!(
        stored,
        json!([OPERATOR_TOKEN, 0, ""]),
        "sessionStorage only"
    );
    b.until(
        "the existing workspace",
        "document.querySelector('#op-rows').textContent.includes('已有的店')",
    )
    .await;

    // Create, then rename.
    fill(&b, "#op-create-name", "新开的店").await;
    b.click("#op-create button[type=submit]").await;
    b.until(
        "the new row",
        "document.querySelectorAll('#op-rows tr').length === 2",
    )
    .await;
    let row = "#op-rows tr:last-child";
    assert!(text(&b, row).await.contains("正常"));
    b.click(&format!("{row} .operator-actions button:nth-child(1)"))
        .await;
    b.until(
        "the rename dialog",
        "document.querySelector('#op-rename').open",
    )
    .await;
    fill(&b, "#op-rename input[name=name]", "新开的店（二店）").await;
    b.click("#op-rename button[value=ok]").await;
    b.until(
        "the new name",
        "document.querySelector('#op-rows tr:last-child').textContent.includes('新开的店（二店）')",
    )
    .await;
    let id: i64 = text(&b, &format!("{row} td:first-child"))
        .await
        .parse()
        .unwrap();

    // The first admin, with a generated password shown once.
    b.click(&format!("{row} .operator-actions button:nth-child(4)"))
        .await;
    b.until(
        "the admin dialog",
        "document.querySelector('#op-admin').open",
    )
    .await;
    fill(&b, "#op-admin input[name=email]", "owner@second.cn").await;
    fill(&b, "#op-admin input[name=name]", "店长").await;
    b.click("#op-admin button[value=ok]").await;
    b.until("the password", "document.querySelector('#op-secret').open")
        .await;
    let password = text(&b, "#op-secret-value").await;
    assert!(password.len() >= 16, "{password}");
    b.shot("console-operator-password").await;
    b.click("#op-secret button[value=ok]").await;
    let res = imhub
        .http
        .post(format!("{}/api/v1/session", imhub.base))
        .json(&json!({"email": "owner@second.cn", "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        200,
        "the admin logs in with the shown password"
    );

    // A quota: at most one channel.
    b.click(&format!("{row} .operator-actions button:nth-child(3)"))
        .await;
    b.until(
        "the quota dialog",
        "document.querySelector('#op-quotas').open",
    )
    .await;
    fill(&b, "#op-quotas input[name=channels]", "1").await;
    b.click("#op-quotas button[value=ok]").await;
    b.until(
        "the quota in the row",
        "document.querySelector('#op-rows tr:last-child').textContent.includes('渠道 0 / 1')",
    )
    .await;

    // Suspend: the workspace's API answers 403; resume.
    let (status, issued) = imhub
        .call_with(
            OPERATOR_TOKEN,
            "POST",
            &format!("/api/v1/operator/workspaces/{id}/tokens"),
            Some(json!({"name": "probe"})),
        )
        .await;
    assert_eq!(status, 201, "{issued}");
    let token = issued["token"].as_str().unwrap().to_string();
    b.click(&format!("{row} .operator-actions button:nth-child(2)"))
        .await;
    b.until(
        "the suspended status",
        "document.querySelector('#op-rows tr:last-child').textContent.includes('已暂停')",
    )
    .await;
    let (status, body) = imhub
        .call_with(&token, "GET", "/api/v1/conversations", None)
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("workspace_suspended"))
    );
    b.shot("console-operator-suspended").await;
    b.click(&format!("{row} .operator-actions button:nth-child(2)"))
        .await;
    b.until(
        "the active status",
        "document.querySelector('#op-rows tr:last-child .operator-status').textContent === '正常'",
    )
    .await;
    let (status, _) = imhub
        .call_with(&token, "GET", "/api/v1/conversations", None)
        .await;
    assert_eq!(status, 200);

    // Delete: a wrong name keeps it, the right one deletes it.
    b.click(&format!("{row} .operator-actions button:nth-child(5)"))
        .await;
    b.until(
        "the delete dialog",
        "document.querySelector('#op-delete').open",
    )
    .await;
    assert!(
        text(&b, "#op-delete-text")
            .await
            .contains("新开的店（二店）")
    );
    fill(&b, "#op-delete input[name=confirm]", "新开的店").await;
    b.click("#op-delete button[value=ok]").await;
    b.until(
        "the mismatch",
        "!document.querySelector('#op-delete [role=alert]').hidden",
    )
    .await;
    assert_eq!(
        b.count("#op-rows tr").await,
        2,
        "a wrong name deletes nothing"
    );
    fill(&b, "#op-delete input[name=confirm]", "新开的店（二店）").await;
    b.click("#op-delete button[value=ok]").await;
    b.until(
        "one row left",
        "document.querySelectorAll('#op-rows tr').length === 1",
    )
    .await;
    let (status, _) = imhub
        .call_with(&token, "GET", "/api/v1/conversations", None)
        .await;
    assert_eq!(status, 401, "its token went with it");

    // In English, with no catalogue key left showing.
    b.click("#op-lang").await;
    b.until(
        "the English page",
        "document.documentElement.lang === 'en' && !document.querySelector('#op-main').hidden",
    )
    .await;
    let body = text(&b, "body").await;
    assert!(
        body.contains("Workspaces") && body.contains("Suspend"),
        "{body}"
    );
    assert!(!body.contains("operator."), "a catalogue key shows: {body}");
    b.shot("console-operator-en").await;
    b.close().await;
}
