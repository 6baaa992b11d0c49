//! `LimitedBody`: a raw request body of at most 16 KiB for the handlers that
//! parse it themselves (form bodies, optional JSON), whose overflow is the
//! same JSON 413 as everywhere else.

use std::future::Future;
use std::pin::Pin;

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
