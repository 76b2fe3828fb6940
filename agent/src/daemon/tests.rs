//! Lifecycle tests with a recording subsystem: reconcile on start and reload, old config kept
//! on a bad reload, flush in reverse order at stop.

use super::*;
use std::path::Path;
use std::sync::Mutex;

/// Records every call so the test can assert the order of lifecycle events.
struct Recorder {
    name: &'static str,
    log: Arc<Mutex<Vec<String>>>,
    fail: bool,
}

impl Subsystem for Recorder {
    fn name(&self) -> &'static str {
        self.name
    }

    fn reconcile<'a>(
        &'a mut self,
        config: &'a Arc<Config>,
        _shutdown: &'a Shutdown,
    ) -> BoxFuture<'a, Result<Reconciled, SubsystemError>> {
        Box::pin(async move {
            self.log.lock().unwrap().push(format!(
                "{}:reconcile:{}",
                self.name, config.agent.log_level as u8
            ));
            if self.fail {
                return Err(SubsystemError {
                    subsystem: self.name,
                    message: "refused".into(),
                });
            }
            Ok(Reconciled::default())
        })
    }

    fn flush(&mut self) -> BoxFuture<'_, Result<(), SubsystemError>> {
        Box::pin(async move {
            self.log
                .lock()
                .unwrap()
                .push(format!("{}:flush", self.name));
            Ok(())
        })
    }
}

fn write(path: &Path, level: &str) {
    std::fs::write(
        path,
        format!("config agent 'main'\n\toption log_level '{level}'\n"),
    )
    .unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn reload_keeps_running_config_when_new_one_is_bad() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hearth");
    write(&path, "info");
    let log = Arc::new(Mutex::new(Vec::new()));
    let subs: Vec<Box<dyn Subsystem>> = vec![
        Box::new(Recorder {
            name: "a",
            log: log.clone(),
            fail: false,
        }),
        Box::new(Recorder {
            name: "b",
            log: log.clone(),
            fail: true,
        }),
    ];
    let mut d = Daemon::new(path.clone(), subs).unwrap();
    d.reconcile_all().await;

    std::fs::write(&path, "config agent 'main'\n\toption log_levle 'debug'\n").unwrap();
    assert!(!d.reload().await, "a bad config must be refused");
    assert_eq!(d.config().agent.log_level, crate::config::LogLevel::Info);
    assert_eq!(d.generation, 1);

    write(&path, "debug");
    assert!(d.reload().await);
    assert_eq!(d.config().agent.log_level, crate::config::LogLevel::Debug);
    assert_eq!(d.generation, 2);

    d.stop().await;
    assert!(d.shutdown.is_shutdown());
    let got = log.lock().unwrap().clone();
    assert_eq!(
        got,
        [
            "a:reconcile:2",
            "b:reconcile:2", // start (Info = 2)
            "a:reconcile:3",
            "b:reconcile:3", // good reload (Debug = 3)
            "b:flush",
            "a:flush", // reverse order
        ]
    );
}

#[tokio::test(flavor = "current_thread")]
async fn start_refuses_invalid_config() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hearth");
    std::fs::write(&path, "config shaper 'wan'\n\toption uplaod '1'\n").unwrap();
    let err = Daemon::new(path, Vec::new()).err().expect("must refuse");
    let lines = err.lines();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("option 'uplaod': unknown option (did you mean 'upload'?)")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("option 'device': is required but missing")),
        "{lines:?}"
    );
}
