//! `LimitedBody`: a raw request body of at most 16 KiB for the handlers that
//! parse it themselves (form bodies, optional JSON), whose overflow is the
//! same JSON 413 as everywhere else; and `Deadline`, the time limit on
//! every request body.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::error::PayloadError;
use futures_util::Stream;

use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, dev::Payload, web::Bytes, web::BytesMut};
use futures_util::StreamExt;

use super::AUTH_BODY_LIMIT;
use crate::error::ApiError;

pub struct LimitedBody(pub Bytes);

impl FromRequest for LimitedBody {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let mut payload = payload.take();
        Box::pin(async move {
            if declared.is_some_and(|n| n > AUTH_BODY_LIMIT) {
                return Err(ApiError::PayloadTooLarge(AUTH_BODY_LIMIT));
            }
            let mut body = BytesMut::new();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk
                    .map_err(|e| ApiError::bad_request("invalid_request", format!("could not read the body: {e}")))?;
                if body.len() + chunk.len() > AUTH_BODY_LIMIT {
                    return Err(ApiError::PayloadTooLarge(AUTH_BODY_LIMIT));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(LimitedBody(body.freeze()))
        })
    }
}

/// A request body that fails with a timed-out I/O error once its deadline
/// passes; extractors turn that into a JSON 408.
pub struct Deadline {
    inner: actix_web::dev::Payload,
    sleep: Pin<Box<actix_web::rt::time::Sleep>>,
    expired: bool,
}

impl Deadline {
    pub fn new(inner: actix_web::dev::Payload, limit: Duration) -> Self {
        Self { inner, sleep: Box::pin(actix_web::rt::time::sleep(limit)), expired: false }
    }
}

impl Stream for Deadline {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.expired {
            return Poll::Ready(None);
        }
        if let Poll::Ready(item) = Pin::new(&mut this.inner).poll_next(cx) {
            return Poll::Ready(item);
        }
        if this.sleep.as_mut().poll(cx).is_ready() {
            this.expired = true;
            let e = std::io::Error::new(std::io::ErrorKind::TimedOut, "the request body did not arrive in time");
            return Poll::Ready(Some(Err(PayloadError::Io(e))));
        }
        Poll::Pending
    }
}

/// Whether the request's media type (parameters such as `charset` aside) is `mime`.
pub fn has_content_type(req: &HttpRequest, mime: &str) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case(mime))
}

/// Whether a payload error is `Deadline`'s.
pub fn is_timeout(e: &PayloadError) -> bool {
    matches!(e, PayloadError::Io(io) if io.kind() == std::io::ErrorKind::TimedOut)
}
