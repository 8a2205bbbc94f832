//! The HTTP surface: kube-apiserver's URL layout for namespaced leases and configmaps,
//! every failure as a `Status` object.

use crate::object::{self, Object};
use crate::patch::PatchKind;
use crate::resource::{CONFIGMAPS, LEASES, Resource};
use crate::status::ApiError;
use crate::store::{Store, Write};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use serde_json::Value;
use std::collections::HashMap;

/// The router for a store: `/api/v1/namespaces/{ns}/configmaps[/{name}]`,
/// `/apis/coordination.k8s.io/v1/namespaces/{ns}/leases[/{name}]` and `/healthz`.
pub fn router(store: Store) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/api/v1/namespaces/{ns}/configmaps",
            collection(&CONFIGMAPS),
        )
        .route(
            "/api/v1/namespaces/{ns}/configmaps/{name}",
            item(&CONFIGMAPS),
        )
        .route(
            "/apis/coordination.k8s.io/v1/namespaces/{ns}/leases",
            collection(&LEASES),
        )
        .route(
            "/apis/coordination.k8s.io/v1/namespaces/{ns}/leases/{name}",
            item(&LEASES),
        )
        .fallback(|uri: Uri| async move { ApiError::no_route(uri.path()) })
        .with_state(store)
}

type Params = Query<HashMap<String, String>>;

fn collection(res: &'static Resource) -> MethodRouter<Store> {
    get(
        move |State(s): State<Store>, Path(ns): Path<String>, q: Params| async move {
            let result = async {
                refuse_unsupported_list(&q)?;
                s.list(res, &ns).await
            };
            reply(StatusCode::OK, result.await)
        },
    )
    .post(
        move |State(s): State<Store>,
              Path(ns): Path<String>,
              q: Params,
              h: HeaderMap,
              body: Bytes| async move {
            let result = async {
                let write = write_of(&q, &h)?;
                let obj = object::parse_body(&body)?;
                s.create(res, &ns, obj, &write).await.map(Value::Object)
            };
            reply(StatusCode::CREATED, result.await)
        },
    )
    .fallback(not_allowed)
}

fn item(res: &'static Resource) -> MethodRouter<Store> {
    get(move |State(s): State<Store>, Path((ns, name)): Path<(String, String)>| async move {
        reply(StatusCode::OK, s.get(res, &ns, &name).await.map(Value::Object))
    })
    .put(
        move |State(s): State<Store>,
              Path((ns, name)): Path<(String, String)>,
              q: Params,
              h: HeaderMap,
              body: Bytes| async move {
            let result = async {
                let write = write_of(&q, &h)?;
                let obj = object::parse_body(&body)?;
                s.update(res, &ns, &name, obj, &write).await.map(Value::Object)
            };
            reply(StatusCode::OK, result.await)
        },
    )
    .patch(
        move |State(s): State<Store>,
              Path((ns, name)): Path<(String, String)>,
              q: Params,
              h: HeaderMap,
              body: Bytes| async move {
            reply(StatusCode::OK, patch(&s, res, &ns, &name, &q, &h, &body).await)
        },
    )
    .delete(
        move |State(s): State<Store>, Path((ns, name)): Path<(String, String)>, body: Bytes| async move {
            let result = async {
                let (rv, uid) = preconditions(&body)?;
                s.delete(res, &ns, &name, rv, uid).await
            };
            reply(StatusCode::OK, result.await)
        },
    )
    .fallback(not_allowed)
}

/// Selectors and watches are not implemented; refusing them is better than answering
/// as if they had been applied.
fn refuse_unsupported_list(q: &Params) -> Result<(), ApiError> {
    for param in ["labelSelector", "fieldSelector"] {
        if q.get(param).is_some_and(|v| !v.is_empty()) {
            return Err(ApiError::bad_request(format!(
                "{param} is not supported by the stand-in: {param}={} (list without it)",
                q[param]
            )));
        }
    }
    if q.get("watch").is_some_and(|v| v == "true" || v == "1") {
        return Err(ApiError::bad_request(
            "watch is not supported by the stand-in: watch=true (poll with get instead)",
        ));
    }
    Ok(())
}

async fn not_allowed(method: Method) -> ApiError {
    ApiError::method_not_allowed(method.as_str())
}

async fn patch(
    s: &Store,
    res: &'static Resource,
    ns: &str,
    name: &str,
    q: &Params,
    h: &HeaderMap,
    body: &[u8],
) -> Result<Value, ApiError> {
    let content_type = h
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let kind = PatchKind::from_content_type(content_type)?;
    let write = write_of(q, h)?;
    if kind == PatchKind::Apply && !q.contains_key("fieldManager") {
        return Err(ApiError::bad_request(
            "PATCH, application/apply-patch+yaml: fieldManager is required for apply requests",
        ));
    }
    let patch: Object = object::parse_body(body)?;
    s.patch(res, ns, name, kind, patch, &write)
        .await
        .map(Value::Object)
}

/// Who writes: `?fieldManager=`, else the user agent's product name, as kube-apiserver
/// defaults it; `?force=true` for apply. Dry runs are refused rather than faked.
fn write_of(q: &Params, h: &HeaderMap) -> Result<Write, ApiError> {
    if q.contains_key("dryRun") {
        return Err(ApiError::bad_request(
            "dryRun is not supported by the stand-in: dryRun=All (send the request without it)",
        ));
    }
    let agent = h
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .and_then(|ua| ua.split('/').next())
        .filter(|s| !s.is_empty())
        .unwrap_or("unknown");
    Ok(Write {
        manager: q
            .get("fieldManager")
            .cloned()
            .unwrap_or_else(|| agent.to_string()),
        force: q.get("force").is_some_and(|f| f == "true"),
    })
}

/// The preconditions of a DELETE's DeleteOptions body, if it has one.
fn preconditions(body: &[u8]) -> Result<(Option<i64>, Option<String>), ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok((None, None));
    }
    let opts = object::parse_body(body)?;
    let pre = opts.get("preconditions");
    let rv = match pre
        .and_then(|p| p.get("resourceVersion"))
        .and_then(Value::as_str)
    {
        Some(rv) => Some(object::parse_resource_version(rv)?),
        None => None,
    };
    let uid = pre
        .and_then(|p| p.get("uid"))
        .and_then(Value::as_str)
        .map(str::to_string);
    Ok((rv, uid))
}

fn reply(ok: StatusCode, result: Result<Value, ApiError>) -> Response {
    match result {
        Ok(v) => (ok, axum::Json(v)).into_response(),
        Err(e) => {
            tracing::debug!(code = e.code, reason = e.reason, message = %e.message, "request failed");
            e.into_response()
        }
    }
}
