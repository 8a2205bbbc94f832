//! Errors as Kubernetes `Status` objects, with kube-apiserver's reasons, codes and
//! message wording, so clients classify them exactly as they would a real server's.

use crate::resource::Resource;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// An ApiError is a request's failure as the API reports it: an HTTP code, a machine
/// reason (`NotFound`, `AlreadyExists`, `Conflict`, ...) and a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status code, repeated in `Status.code`.
    pub code: u16,
    /// The `Status.reason`.
    pub reason: &'static str,
    /// The human-readable `Status.message`.
    pub message: String,
    /// The object's name and resource, for `Status.details`, when the error is about one.
    pub details: Option<(String, &'static Resource)>,
}

impl ApiError {
    /// 404: the object does not exist.
    pub fn not_found(res: &'static Resource, name: &str) -> ApiError {
        ApiError {
            code: 404,
            reason: "NotFound",
            message: format!("{} \"{name}\" not found", res.qualified()),
            details: Some((name.to_string(), res)),
        }
    }

    /// 409: a create found the object already there.
    pub fn already_exists(res: &'static Resource, name: &str) -> ApiError {
        ApiError {
            code: 409,
            reason: "AlreadyExists",
            message: format!("{} \"{name}\" already exists", res.qualified()),
            details: Some((name.to_string(), res)),
        }
    }

    /// 409: the write's resourceVersion (or UID) precondition no longer holds.
    pub fn conflict(res: &'static Resource, name: &str) -> ApiError {
        ApiError {
            code: 409,
            reason: "Conflict",
            message: format!(
                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; \
                 please apply your changes to the latest version and try again",
                res.qualified()
            ),
            details: Some((name.to_string(), res)),
        }
    }

    /// 409: a server-side apply would change fields another manager owns.
    pub fn apply_conflict(res: &'static Resource, name: &str, message: String) -> ApiError {
        ApiError {
            code: 409,
            reason: "Conflict",
            message,
            details: Some((name.to_string(), res)),
        }
    }

    /// 400: the request cannot be understood (bad JSON, mismatched kind or name).
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError {
            code: 400,
            reason: "BadRequest",
            message: message.into(),
            details: None,
        }
    }

    /// 422: the object is well-formed but not valid.
    pub fn invalid(res: &'static Resource, name: &str, message: String) -> ApiError {
        ApiError {
            code: 422,
            reason: "Invalid",
            message: format!("{} \"{name}\" is invalid: {message}", res.kind),
            details: Some((name.to_string(), res)),
        }
    }

    /// 415: a patch type the stand-in does not implement.
    pub fn unsupported_media_type(content_type: &str) -> ApiError {
        ApiError {
            code: 415,
            reason: "UnsupportedMediaType",
            message: format!(
                "the body of the request was in an unknown format: content_type={content_type} \
                 (the stand-in accepts application/json, application/merge-patch+json, \
                 application/strategic-merge-patch+json and application/apply-patch+yaml)"
            ),
            details: None,
        }
    }

    /// 404 for a path the stand-in does not serve.
    pub fn no_route(path: &str) -> ApiError {
        ApiError {
            code: 404,
            reason: "NotFound",
            message: format!(
                "the server could not find the requested resource: path={path} (the stand-in \
                 serves only namespaced leases and configmaps)"
            ),
            details: None,
        }
    }

    /// 405 for a method the path does not take.
    pub fn method_not_allowed(method: &str) -> ApiError {
        ApiError {
            code: 405,
            reason: "MethodNotAllowed",
            message: format!(
                "the server does not allow this method on the requested resource: method={method}"
            ),
            details: None,
        }
    }

    /// 504: etcd did not answer within the request timeout; the write may have happened.
    pub fn timeout(after_ms: u128) -> ApiError {
        ApiError {
            code: 504,
            reason: "Timeout",
            message: format!(
                "Timeout: request did not complete within the allotted timeout: after_ms={after_ms}"
            ),
            details: None,
        }
    }

    /// 500: etcd failed the request; the write may have happened.
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError {
            code: 500,
            reason: "InternalError",
            message: message.into(),
            details: None,
        }
    }

    /// The `Status` object.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some((name, res)) = &self.details {
            status["details"] = json!({ "name": name, "group": res.group, "kind": res.plural });
        }
        status
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (code, axum::Json(self.to_status())).into_response()
    }
}

/// The `Status` a successful delete returns, as kube-apiserver does for kinds that do
/// not return the deleted object.
pub fn delete_success(res: &'static Resource, name: &str, uid: &str) -> Value {
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": { "name": name, "group": res.group, "kind": res.plural, "uid": uid },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::LEASES;

    #[test]
    fn a_conflict_is_a_failure_status_with_reason_code_and_details() {
        let s = ApiError::conflict(&LEASES, "a").to_status();
        assert_eq!(s["kind"], "Status");
        assert_eq!(s["status"], "Failure");
        assert_eq!(s["reason"], "Conflict");
        assert_eq!(s["code"], 409);
        assert_eq!(s["details"]["name"], "a");
        assert_eq!(s["details"]["group"], "coordination.k8s.io");
        assert_eq!(s["details"]["kind"], "leases");
    }
}
