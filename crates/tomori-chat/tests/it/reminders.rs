//! The reminder scheduler against a real database and a recording surface, on a clock the tests
//! move: delivery exactly once as the right persona, after downtime, recurrence without a flood,
//! retries with backoff up to the limit, two schedulers racing, and the run loop waking early.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use tokio_util::sync::CancellationToken;
use tomori_chat::reminders::{Scheduler, SchedulerOptions, Tick};
use tomori_chat::surface::{ChatSurface, Outgoing, Speaker, SurfaceError};
use tomori_core::id::{PersonaId, ServerId, Snowflake};
use tomori_store::audit::Actor;
use tomori_store::personas::{self, NewPersona};
use tomori_store::reminders::{self, NewReminder, Reminder};
use tomori_store::{Scope, Store};
use tomori_testkit::TestDb;
use tomori_tools::Clock;

use crate::id;

const CHANNEL: u64 = 700;
const ALICE: u64 = 21;

fn at(text: &str) -> DateTime<Utc> {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").expect("a test time").and_utc()
}

/// A clock the test sets.
#[derive(Clone)]
struct TestClock(Arc<Mutex<DateTime<Utc>>>);

impl TestClock {
    fn new(start: &str) -> Self {
        Self(Arc::new(Mutex::new(at(start))))
    }

    fn set(&self, to: &str) {
        *self.0.lock().unwrap() = at(to);
    }

    fn clock(&self) -> Clock {
        let now = Arc::clone(&self.0);
        Clock::new(move || *now.lock().unwrap())
    }
}

/// Records every message; fails the next `failures` sends; can take a little time per send so
/// that concurrent schedulers interleave.
#[derive(Clone, Default)]
struct Surface {
    sent: Arc<Mutex<Vec<(Snowflake, Outgoing)>>>,
    attempts: Arc<AtomicU32>,
    failures: Arc<AtomicU32>,
    delay: Duration,
}

impl Surface {
    fn sent(&self) -> Vec<(Snowflake, Outgoing)> {
        self.sent.lock().unwrap().clone()
    }

    fn contents(&self) -> Vec<String> {
        self.sent().into_iter().map(|(_, m)| m.content).collect()
    }
}

impl ChatSurface for Surface {
    async fn send(&self, channel: Snowflake, message: Outgoing) -> Result<Snowflake, SurfaceError> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        let failing = self
            .failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if failing {
            return Err(SurfaceError::Unavailable("the platform is down".into()));
        }
        let mut sent = self.sent.lock().unwrap();
        sent.push((channel, message));
        Ok(id(50_000 + u64::try_from(sent.len()).unwrap()))
    }

    async fn typing(&self, _channel: Snowflake) -> Result<(), SurfaceError> {
        Ok(())
    }
}

struct World {
    db: TestDb,
    store: Store,
    server: ServerId,
    main: PersonaId,
    alter: PersonaId,
}

impl World {
    async fn new() -> Self {
        let db = TestDb::new().await;
        let store = db.store().await;
        let server = store.resolve_guild(id(800)).await.unwrap();
        let mut ids = Vec::new();
        for name in ["Tomori", "Kaede"] {
            let persona = personas::create(
                &store,
                Scope::server(server),
                Actor::Operator,
                NewPersona {
                    nickname: name.into(),
                    avatar_url: Some(format!("https://cdn.example/{name}.png")),
                    ..NewPersona::default()
                },
            )
            .await
            .unwrap();
            ids.push(persona.id);
        }
        Self { db, store, server, main: ids[0], alter: ids[1] }
    }

    async fn remind(
        &self,
        server: ServerId,
        persona: Option<PersonaId>,
        purpose: &str,
        due: &str,
        repeat_hours: Option<u32>,
    ) -> Reminder {
        let new = NewReminder {
            channel: id(CHANNEL),
            user: id(ALICE),
            persona,
            purpose: purpose.into(),
            due_at: at(due),
            repeat_hours,
        };
        reminders::create(&self.store, Scope::server(server), Actor::Discord(id(ALICE)), new)
            .await
            .unwrap()
    }

    async fn pending(&self, server: ServerId) -> Vec<Reminder> {
        reminders::list_for_member(&self.store, Scope::server(server), id(ALICE)).await.unwrap()
    }

    fn scheduler(&self, surface: Surface, clock: Clock) -> Scheduler<Surface> {
        Scheduler::new(self.store.clone(), surface, clock, SchedulerOptions::default())
    }
}

async fn tick(scheduler: &Scheduler<Surface>) -> Tick {
    scheduler.tick(&CancellationToken::new()).await.unwrap()
}

fn delivered(n: u32) -> Tick {
    Tick { delivered: n, ..Tick::default() }
}

#[tokio::test]
async fn a_due_reminder_is_delivered_once_as_the_persona_that_set_it() {
    let w = World::new().await;
    let gone = personas::create(
        &w.store,
        Scope::server(w.server),
        Actor::Operator,
        NewPersona { nickname: "Gone".into(), ..NewPersona::default() },
    )
    .await
    .unwrap();
    w.remind(w.server, Some(w.main), "take the bread out", "2026-12-01 09:00:00", None).await;
    w.remind(w.server, Some(w.alter), "water the plants @everyone", "2026-12-01 09:00:00", None)
        .await;
    w.remind(w.server, Some(gone.id), "call mum", "2026-12-01 09:00:00", None).await;
    personas::remove(&w.store, Scope::server(w.server), Actor::Operator, gone.id).await.unwrap();
    let clock = TestClock::new("2026-12-01 08:59:59");
    let surface = Surface::default();
    let scheduler = w.scheduler(surface.clone(), clock.clock());

    assert_eq!(tick(&scheduler).await, Tick::default(), "not due yet");
    clock.set("2026-12-01 09:00:00");
    assert_eq!(tick(&scheduler).await, delivered(3));
    for later in ["2026-12-01 09:00:00", "2026-12-01 09:00:30", "2026-12-02 09:00:00"] {
        clock.set(later);
        assert_eq!(tick(&scheduler).await, Tick::default(), "delivered once, at {later}");
    }

    let sent = surface.sent();
    assert_eq!(sent.len(), 3);
    let by_purpose = |purpose: &str| {
        sent.iter().find(|(_, m)| m.content.contains(purpose)).expect("sent").clone()
    };
    let (channel, main) = by_purpose("bread");
    assert_eq!(channel, id(CHANNEL));
    assert_eq!(
        main,
        Outgoing {
            content: format!("⏰ <@{ALICE}> Reminder: take the bread out"),
            speaker: Speaker::Bot,
            reply_to: None,
            ping_users: vec![id(ALICE)],
            files: Vec::new(),
        }
    );
    let (_, alter) = by_purpose("plants");
    assert_eq!(
        alter.speaker,
        Speaker::Persona {
            name: "Kaede".into(),
            avatar_url: Some("https://cdn.example/Kaede.png".into())
        }
    );
    // Security: only the reminded member may be pinged, whatever the purpose says.
    assert_eq!(alter.ping_users, vec![id(ALICE)]);
    let (_, orphan) = by_purpose("mum");
    assert_eq!(orphan.speaker, Speaker::Bot, "a deleted persona falls back to the bot");
    assert!(w.pending(w.server).await.is_empty(), "one-offs are deleted once delivered");
}

#[tokio::test]
async fn a_reminder_missed_during_downtime_is_delivered_once_on_start() {
    let w = World::new().await;
    w.remind(w.server, Some(w.main), "stand-up", "2026-12-01 09:00:00", None).await;
    // The bot was down from 08:00 to 12:00; the scheduler starts after the reminder fell due.
    let clock = TestClock::new("2026-12-01 12:00:00");
    let surface = Surface::default();
    let scheduler = w.scheduler(surface.clone(), clock.clock());
    assert_eq!(tick(&scheduler).await, delivered(1));
    assert_eq!(tick(&scheduler).await, Tick::default());
    assert_eq!(
        surface.contents(),
        [format!(
            "⏰ <@{ALICE}> Reminder: stand-up\n-# This was due <t:{}:f>; it comes late because I was offline.",
            at("2026-12-01 09:00:00").timestamp()
        )]
    );
}

#[tokio::test]
async fn a_recurring_reminder_advances_without_a_flood() {
    let w = World::new().await;
    let daily = w.remind(w.server, None, "vitamins", "2026-12-01 09:00:00", Some(24)).await;
    let clock = TestClock::new("2026-12-01 09:00:00");
    let surface = Surface::default();
    let scheduler = w.scheduler(surface.clone(), clock.clock());

    assert_eq!(tick(&scheduler).await, delivered(1));
    assert_eq!(w.pending(w.server).await[0].due_at, at("2026-12-02 09:00:00"));
    assert_eq!(tick(&scheduler).await, Tick::default());

    // Three days of downtime: three occurrences missed, one message, the cadence kept.
    clock.set("2026-12-05 12:00:00");
    assert_eq!(tick(&scheduler).await, delivered(1));
    assert_eq!(tick(&scheduler).await, Tick::default());
    let pending = w.pending(w.server).await;
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].id, daily.id);
    assert_eq!(pending[0].due_at, at("2026-12-06 09:00:00"));

    clock.set("2026-12-06 09:00:00");
    assert_eq!(tick(&scheduler).await, delivered(1));
    assert_eq!(surface.sent().len(), 3);
    assert!(surface.contents().iter().all(|c| c.contains("vitamins (every day)")));
}

#[tokio::test]
async fn failed_deliveries_are_retried_with_backoff_and_given_up_after_five() {
    let w = World::new().await;
    let once = w.remind(w.server, None, "once", "2026-12-01 09:00:00", None).await;
    let clock = TestClock::new("2026-12-01 09:00:00");
    let surface = Surface { failures: Arc::new(AtomicU32::new(u32::MAX)), ..Surface::default() };
    let scheduler = w.scheduler(surface.clone(), clock.clock());
    let retried = Tick { retried: 1, ..Tick::default() };

    // Attempts at 0 s, then after waits of 30, 60, 120 and 240 s; the fifth failure gives up.
    for (time, expected) in [
        ("2026-12-01 09:00:00", retried),
        ("2026-12-01 09:00:29", Tick::default()),
        ("2026-12-01 09:00:30", retried),
        ("2026-12-01 09:01:29", Tick::default()),
        ("2026-12-01 09:01:30", retried),
        ("2026-12-01 09:03:30", retried),
        ("2026-12-01 09:07:29", Tick::default()),
        ("2026-12-01 09:07:30", Tick { gave_up: 1, ..Tick::default() }),
        ("2026-12-01 10:00:00", Tick::default()),
        ("2026-12-02 10:00:00", Tick::default()),
    ] {
        clock.set(time);
        assert_eq!(tick(&scheduler).await, expected, "at {time}");
    }
    assert_eq!(surface.attempts.load(Ordering::SeqCst), 5);
    assert!(surface.sent().is_empty());
    assert!(w.pending(w.server).await.iter().all(|r| r.id != once.id), "the one-off is gone");

    // A recurring reminder that keeps failing gives up this occurrence only; one that recovers
    // is delivered once.
    let weekly = w.remind(w.server, None, "weekly", "2026-12-03 09:00:00", Some(168)).await;
    let mut time = at("2026-12-03 09:00:00");
    for _ in 0..5 {
        clock.set(&time.format("%Y-%m-%d %H:%M:%S").to_string());
        tick(&scheduler).await;
        time += TimeDelta::minutes(10);
    }
    assert_eq!(surface.attempts.load(Ordering::SeqCst), 10);
    let pending = w.pending(w.server).await;
    assert_eq!(pending.len(), 1);
    assert_eq!((pending[0].id, pending[0].due_at), (weekly.id, at("2026-12-10 09:00:00")));

    surface.failures.store(2, Ordering::SeqCst);
    for (time, expected) in [
        ("2026-12-10 09:00:00", retried),
        ("2026-12-10 09:00:30", retried),
        ("2026-12-10 09:01:30", delivered(1)),
        ("2026-12-10 09:05:00", Tick::default()),
    ] {
        clock.set(time);
        assert_eq!(tick(&scheduler).await, expected, "at {time}");
    }
    assert_eq!(surface.contents(), [format!("⏰ <@{ALICE}> Reminder: weekly (every week)")]);
    assert_eq!(w.pending(w.server).await[0].due_at, at("2026-12-17 09:00:00"));
}

#[tokio::test]
async fn two_schedulers_racing_deliver_each_reminder_once() {
    let w = World::new().await;
    let mut servers = vec![w.server];
    for guild in [801, 802] {
        servers.push(w.store.resolve_guild(id(guild)).await.unwrap());
    }
    let mut expected = Vec::new();
    for (i, server) in servers.iter().cycle().take(30).enumerate() {
        let purpose = format!("task {i}");
        w.remind(*server, None, &purpose, "2026-12-01 09:00:00", None).await;
        expected.push(format!("⏰ <@{ALICE}> Reminder: {purpose}"));
    }
    // Two bot processes: two pools, two surfaces, the same database and time.
    let clock = TestClock::new("2026-12-01 09:00:00");
    let surfaces =
        [0, 1].map(|_| Surface { delay: Duration::from_millis(3), ..Surface::default() });
    let mut schedulers = Vec::new();
    for surface in &surfaces {
        let store = w.db.store().await;
        schedulers.push(Scheduler::new(
            store,
            surface.clone(),
            clock.clock(),
            SchedulerOptions { batch: 4, ..SchedulerOptions::default() },
        ));
    }
    let (a, b) = tokio::join!(tick(&schedulers[0]), tick(&schedulers[1]));
    assert_eq!(a.delivered + b.delivered, 30, "{a:?} {b:?}");
    assert!(a.delivered > 0 && b.delivered > 0, "both took part: {a:?} {b:?}");
    let mut all: Vec<String> = surfaces.iter().flat_map(Surface::contents).collect();
    all.sort();
    expected.sort();
    assert_eq!(all, expected, "every reminder once, none twice");
    for server in servers {
        assert!(w.pending(server).await.is_empty());
    }
}

#[tokio::test]
async fn the_run_loop_wakes_for_a_sooner_reminder_and_stops_on_request() {
    let w = World::new().await;
    let surface = Surface::default();
    let options = SchedulerOptions { poll: Duration::from_secs(60), ..SchedulerOptions::default() };
    let handle = Scheduler::new(w.store.clone(), surface.clone(), Clock::system(), options).spawn();
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Due in one second, while the scheduler sleeps for up to a minute.
    let started = Instant::now();
    let new = NewReminder {
        channel: id(CHANNEL),
        user: id(ALICE),
        persona: None,
        purpose: "soon".into(),
        due_at: Utc::now() + TimeDelta::seconds(1),
        repeat_hours: None,
    };
    reminders::create(&w.store, Scope::server(w.server), Actor::Discord(id(ALICE)), new)
        .await
        .unwrap();
    while surface.sent().is_empty() && started.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = started.elapsed();
    assert_eq!(surface.contents(), [format!("⏰ <@{ALICE}> Reminder: soon")]);
    assert!(took >= Duration::from_millis(900), "not before it was due: {took:?}");
    assert!(took < Duration::from_secs(3), "woke for it, not at the next poll: {took:?}");

    let stopping = Instant::now();
    handle.stop().await;
    assert!(stopping.elapsed() < Duration::from_secs(2), "stopped promptly");
}
