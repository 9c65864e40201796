//! The domain's one error type. Each variant is one error of the spec; the HTTP edge maps it
//! to a status and a Graph `error.code` in one place.

use crate::limits::TooLarge;
use crate::policy::Denial;
use crate::renditions::RenderError;
use crate::target::RouteError;
use crate::validation::InvalidImage;

/// Every error of the spec the use cases answer with, one variant each.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhotoError {
    /// 400 `BadRequest` (unknown/unsupported segment) or 405 `MethodNotAllowed` (spec A6).
    #[error(transparent)]
    Route(#[from] RouteError),

    /// 400 `BadRequest`: an application token on a `/me` path (spec D4).
    #[error("/me request is only valid with delegated authentication flow.")]
    NoSignedInUser,

    /// 403 `ErrorAccessDenied` (spec D6).
    #[error("Access is denied. Check credentials and try again. {}", .0.remedy())]
    AccessDenied(Denial),

    /// 404 `Request_ResourceNotFound`: a user or group that does not exist in the caller's
    /// tenant (spec D7 step 5). Carries the id as the request gave it.
    #[error("Resource '{0}' does not exist or one of its queried reference-property objects are not present.")]
    ResourceNotFound(String),

    /// 404 `ErrorItemNotFound`: a contact or contact folder that does not exist.
    #[error("The specified object was not found in the store.")]
    ItemNotFound,

    /// 404 `ErrorEntityNotFound`: the target has no photo, or not in the size asked (C4, C5).
    #[error("The photo wasn't found.")]
    PhotoNotFound,

    /// 404 `ErrorEntityNotFound`: the stored photo could not be rendered at the size asked.
    /// Uploads whose pixel data cannot be decoded are refused (validation's integrity pass), so
    /// this is left for what only a full decode meets (a decoder limit or bug).
    #[error("The photo wasn't found. The stored photo could not be rendered at this size: {0}")]
    RenditionFailed(RenderError),

    /// 400 `ConsumerPhotoIsNotSupported` (spec B6).
    #[error("Updating the photo of a personal Microsoft account is not supported in v1.0; use a work or school account, or the /beta endpoint.")]
    ConsumerPhotoNotSupported,

    /// 412 `PreconditionFailed` (spec B7).
    #[error(
        "The photo was changed or deleted since the ETag given in If-Match; nothing was written."
    )]
    PreconditionFailed,

    /// 413 `RequestEntityTooLarge` (spec B4).
    #[error(transparent)]
    TooLarge(TooLarge),

    /// 400 `ErrorInvalidImage` (spec B3, B5).
    #[error(transparent)]
    InvalidImage(InvalidImage),

    /// 503 `serviceNotAvailable` (spec F2). The detail is for logs, never for the client.
    #[error("The service is temporarily unavailable: {0}")]
    Unavailable(String),
}

impl From<Denial> for PhotoError {
    fn from(denial: Denial) -> Self {
        match denial {
            Denial::NoSignedInUser => PhotoError::NoSignedInUser,
            forbidden @ Denial::Forbidden { .. } => PhotoError::AccessDenied(forbidden),
        }
    }
}

impl From<InvalidImage> for PhotoError {
    fn from(invalid: InvalidImage) -> Self {
        match invalid {
            InvalidImage::TooLarge(too_large) => PhotoError::TooLarge(too_large),
            other => PhotoError::InvalidImage(other),
        }
    }
}
