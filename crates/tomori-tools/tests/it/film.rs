//! A [`VideoMaker`] for the gate's table: films a fixed MP4 and records each run, so the table
//! sees whether `generate_video` reached it.

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use tomori_tools::{MadeVideo, OutFile, TurnContext, VideoAsk, VideoFailure, VideoMaker};

use crate::support::ProbeRuns;

/// Records each run as a probe run without a target.
#[derive(Default)]
pub(crate) struct FakeFilmmaker {
    pub(crate) runs: ProbeRuns,
}

impl VideoMaker for FakeFilmmaker {
    fn make<'a>(
        &'a self,
        _ctx: &'a TurnContext,
        ask: VideoAsk,
    ) -> BoxFuture<'a, Result<MadeVideo, VideoFailure>> {
        self.runs.lock().expect("runs").push(None);
        let file = OutFile {
            filename: "video.mp4".to_owned(),
            content_type: "video/mp4".to_owned(),
            bytes: tomori_testkit::fake_llm::mp4(),
            description: Some(ask.prompt),
        };
        async move { Ok(MadeVideo { file, by: "fake · filmmaker".to_owned() }) }.boxed()
    }
}
