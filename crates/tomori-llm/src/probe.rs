//! Whether a provider answers at all: `GET {base}/models` with the wire's auth headers, through
//! the target's own guarded client, so `tomori doctor` judges the same path a turn takes.

use tomori_net::{Limits, Method, Redirects};

use crate::call::{authorised, status_failure};
use crate::endpoint::Timeouts;
use crate::error::{LlmError, TimeoutPhase};
use crate::llm::Target;

/// A model list is small; a provider that sends megabytes here is not answering the question.
const MAX_LIST_BYTES: u64 = 4 << 20;

/// Asks the target's provider for its model list with the target's first key.
///
/// # Errors
/// What a chat request to the same endpoint would meet: refused by the URL policy, no
/// connection, a timeout, a rejected key ([`LlmError::Auth`]) or another error status.
pub async fn probe(target: &Target, timeouts: &Timeouts) -> Result<(), LlmError> {
    let wire = target.endpoint.wire();
    let url = target.endpoint.url("/models");
    let builder =
        target.client.request(Method::GET, &url).redirects(Redirects::Refuse).limits(Limits {
            max_bytes: MAX_LIST_BYTES,
            max_decoded_bytes: MAX_LIST_BYTES,
            ..Limits::default()
        });
    let key = target.keys.first();
    let builder = authorised(builder, &target.endpoint, key);
    let response = match tokio::time::timeout(timeouts.first_byte, builder.send()).await {
        Err(_elapsed) => {
            return Err(LlmError::Timeout {
                phase: TimeoutPhase::FirstByte,
                after: timeouts.first_byte,
            });
        }
        Ok(Err(error)) => return Err(LlmError::from_fetch(error, TimeoutPhase::Connect)),
        Ok(Ok(response)) => response,
    };
    if response.status().is_success() {
        return Ok(());
    }
    Err(status_failure(response, wire, &[], key, timeouts.first_byte).await.error)
}
