//! Every link the product builds (in e-mails, pages and the API) leads to a page the web
//! service serves.

use partnerdesk_core::platform::links;
use uuid::Uuid;

use crate::harness::TestApp;

#[tokio::test(flavor = "multi_thread")]
async fn every_link_path_is_served_by_a_route() {
    let app = TestApp::spawn().await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let paths = links::paths();
    assert!(paths.iter().any(|p| p == "/a/{}"), "the affiliate link is among them");
    for template in paths {
        let path = template.replace("{}", &Uuid::now_v7().to_string());
        let r = http.get(format!("{}{path}", app.base)).send().await.unwrap();
        let status = r.status().as_u16();
        let body = r.text().await.unwrap();
        let unrouted = status == 404 && body.contains("No such resource");
        assert!(!unrouted, "{template} is served by no route");
        assert!(status < 500, "{template}: {status} {body}");
    }
}
