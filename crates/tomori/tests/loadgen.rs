//! The load harness against this build of the bot, briefly: two seconds at five messages a
//! second must leave no message lost and none answered twice. The full runs and their numbers are
//! in docs/performance.md (`cargo run --release -p tomori-testkit --bin loadgen`).

use std::path::PathBuf;
use std::time::Duration;

use tomori_testkit::load::{self, CancellationToken, Options, Scenario};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_load_loses_nothing_and_answers_once() {
    tomori_testkit::init();
    let options = Options {
        bot: PathBuf::from(env!("CARGO_BIN_EXE_tomori")),
        rate: 5,
        channels: 4,
        guilds: 2,
        seconds: 2,
        llm_latency: Duration::from_millis(50),
        tokens_per_sec: 200,
        tokens: 10,
        scenario: Scenario::None,
        history: 20,
        memories: 5,
        database_url: Some(tomori_testkit::server_url()),
        ..Options::default()
    };
    let report = tokio::time::timeout(
        Duration::from_secs(60),
        load::run(&options, &CancellationToken::new()),
    )
    .await
    .expect("the run is bounded")
    .expect("the run could be carried out");
    let m = &report.messages;
    assert_eq!((m.sent, m.answered), (10, 10), "{}", report.summary());
    assert_eq!((m.lost, m.answered_twice, m.error_and_answer), (0, 0, 0), "{}", report.summary());
    assert_eq!(
        report.setup_messages.answered, 4,
        "three warm-up messages and one in the second guild"
    );
    assert_eq!(report.end_to_end_ms.samples, 10);
    assert!(report.engine_overhead_ms.p50 > 0.0);
    assert!(report.memory.peak_rss_kib > 0);
    assert!(report.correct, "{:?}", report.problems);
}
