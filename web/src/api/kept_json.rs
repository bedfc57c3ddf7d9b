//! [`KeptJson`]: a JSON answer serialized once and sent as those bytes for as long as the read
//! it came from is kept ([`KeptJson::remembered`], in [`ClientReads`]).
//!
//! poem-openapi's `Json<T>` serializes on every response: it builds a `serde_json::Value` tree
//! from `T` (a map and a string for every field) and then writes the tree out — on a client's
//! file list, most of the server's own work per request. A kept read answers the same bytes
//! until the firm's next write, so they are made once, by the same `ToJSON` and the same
//! writer `Json<T>` uses: what is sent is byte for byte what `Json<T>` would send, and the API
//! document describes it as `Json<T>` (same content type, schema and response).

use std::future::Future;
use std::marker::PhantomData;

use bytes::Bytes;
use poem::IntoResponse;
use poem::http::header;
use poem_openapi::ApiResponse;
use poem_openapi::payload::{Json, Payload};
use poem_openapi::registry::{MetaResponses, MetaSchemaRef, Registry};
use poem_openapi::types::{ToJSON, Type};
use sea_orm::DbErr;

use crate::client_auth::ClientCtx;
use crate::client_reads::ClientReads;

/// `T`'s JSON, serialized.
pub struct KeptJson<T> {
    bytes: Bytes,
    /// The type it was serialized from, for the API document.
    of: PhantomData<fn() -> T>,
}

impl<T> Clone for KeptJson<T> {
    fn clone(&self) -> Self {
        Self {
            bytes: self.bytes.clone(),
            of: PhantomData,
        }
    }
}

impl<T: ToJSON> KeptJson<T> {
    /// Serializes `value` as `Json<T>` does.
    pub fn of(value: &T) -> Self {
        // Writing a `serde_json::Value` into a `Vec` cannot fail: every map key is a string
        // and the writer never errs (`Json<T>` relies on the same).
        let bytes = serde_json::to_vec(&value.to_json()).unwrap_or_default();
        Self {
            bytes: Bytes::from(bytes),
            of: PhantomData,
        }
    }

    /// `load`'s answer as JSON, kept in `reads` like any client read (see
    /// [`ClientReads::remembered`]): serialized once, not on every request.
    pub async fn remembered<E: From<DbErr>>(
        reads: &ClientReads,
        ctx: &ClientCtx,
        what: &'static str,
        params: String,
        load: impl Future<Output = Result<T, E>>,
    ) -> Result<Self, E>
    where
        T: 'static,
    {
        let load = async { Ok::<_, E>(Self::of(&load.await?)) };
        let kept = reads.remembered(ctx, what, params, load).await?;
        Ok(Self::clone(&kept))
    }
}

impl<T: Type> Payload for KeptJson<T> {
    const CONTENT_TYPE: &'static str = Json::<T>::CONTENT_TYPE;

    fn check_content_type(content_type: &str) -> bool {
        Json::<T>::check_content_type(content_type)
    }

    fn schema_ref() -> MetaSchemaRef {
        Json::<T>::schema_ref()
    }

    fn register(registry: &mut Registry) {
        <Json<T> as Payload>::register(registry);
    }
}

impl<T: ToJSON> IntoResponse for KeptJson<T> {
    fn into_response(self) -> poem::Response {
        poem::Response::builder()
            .header(header::CONTENT_TYPE, Self::CONTENT_TYPE)
            .body(self.bytes)
    }
}

impl<T: ToJSON> ApiResponse for KeptJson<T> {
    fn meta() -> MetaResponses {
        Json::<T>::meta()
    }

    fn register(registry: &mut Registry) {
        <Json<T> as ApiResponse>::register(registry);
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use poem_openapi::Object;

    use super::*;

    #[derive(Object, Clone)]
    struct Sample {
        name: String,
        note: Option<String>,
        at: chrono::DateTime<Utc>,
        amounts: Vec<i64>,
    }

    fn sample(name: &str) -> Vec<Sample> {
        vec![
            Sample {
                name: name.to_owned(),
                note: None,
                at: Utc.with_ymd_and_hms(2026, 11, 24, 21, 0, 5).unwrap(),
                amounts: vec![0, -12, 1_000_000],
            },
            Sample {
                name: "second".into(),
                note: Some("line\nbreak".into()),
                at: Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap(),
                amounts: vec![],
            },
        ]
    }

    async fn sent(response: poem::Response) -> (Option<String>, Vec<u8>) {
        let content_type = response.content_type().map(str::to_owned);
        let body = response.into_body().into_vec().await.unwrap();
        (content_type, body)
    }

    #[tokio::test]
    async fn sends_byte_for_byte_what_json_sends() {
        for name in [
            "plain",
            "quote \" backslash \\ <b>&</b>",
            "é ü 日本 \u{1}",
            "",
        ] {
            let value = sample(name);
            let kept = KeptJson::of(&value);
            let (kept_type, kept_body) = sent(kept.clone().into_response()).await;
            let (json_type, json_body) = sent(Json(value).into_response()).await;
            assert_eq!(kept_type, json_type, "{name}");
            assert_eq!(kept_body, json_body, "{name}");
            assert!(!kept_body.is_empty());
            // A clone sends the same bytes again.
            assert_eq!(sent(kept.into_response()).await.1, json_body, "{name}");
        }
    }

    #[test]
    fn the_api_document_describes_it_as_json() {
        type Kept = KeptJson<Vec<Sample>>;
        type Plain = Json<Vec<Sample>>;
        let describe = |meta: MetaResponses| {
            meta.responses
                .iter()
                .map(|r| {
                    let content: Vec<_> = r
                        .content
                        .iter()
                        .map(|c| (c.content_type, c.schema.clone()))
                        .collect();
                    (r.status, content)
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(describe(Kept::meta()), describe(Plain::meta()));
        assert_eq!(Kept::CONTENT_TYPE, Plain::CONTENT_TYPE);
        assert_eq!(
            <Kept as Payload>::schema_ref(),
            <Plain as Payload>::schema_ref()
        );
    }
}
