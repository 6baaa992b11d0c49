//! Failed logins are slowed down, then refused with 429 and Retry-After
//! (SPEC §5), the same for known and unknown emails.

use tessera::db::failures::{FailureRow, save_failures};

use crate::both_backends;
use crate::helpers::*;

fn retry_after(res: &Resp) -> i64 {
    res.header("retry-after").expect("Retry-After").parse().unwrap()
}

both_backends! {
    fn repeated_failures_are_slowed_down_for_known_and_unknown_emails(backend) {
        let Some(app) = spawn_app(backend) else { return };
        let (email, _) = app.new_user();
        for target in [email.as_str(), "nobody@example.test"] {
            for i in 0..5 {
                let res = app.login(target, "wrong password, attempt");
                assert_eq!(res.status, 401, "attempt {i} for {target}");
            }
            let res = app.login(target, "wrong password, attempt");
            assert_eq!(res.status, 429, "{target}: {}", res.body);
            assert_eq!(res.error_code(), "too_many_requests");
            assert!((1..=2).contains(&retry_after(&res)), "{:?}", res.header("retry-after"));
            // Even the right password waits (no hashing happens while throttled).
            if target == email {
                assert_eq!(app.login(&email, PASSWORD).status, 429);
            }
        }
        // After the wait it works and clears the delay.
        std::thread::sleep(std::time::Duration::from_millis(2100));
        assert_eq!(app.login(&email, PASSWORD).status, 200);
        assert_eq!(app.login(&email, "wrong password again").status, 401);
    }

    fn an_account_with_100_failures_in_the_hour_is_refused_until_the_window_ends(backend) {
        let Some(app) = spawn_app(backend) else { return };
        let (email, _) = app.new_user();
        let now = tessera::time::now();
        let row = FailureRow { subject: format!("account:{email}"), window_start: now - 600, failures: 100, last_failure: now };
        save_failures(&mut app.state.pool.get().unwrap(), &row).unwrap();
        let res = app.login(&email, PASSWORD);
        assert_eq!(res.status, 429, "{}", res.body);
        let wait = retry_after(&res);
        assert!((2990..=3000).contains(&wait), "Retry-After {wait}");
        // Other accounts are not affected.
        let (other, _) = app.new_user();
        assert_eq!(app.login(&other, PASSWORD).status, 200);
    }
}

both_backends! {
    fn the_account_cap_does_not_lock_out_an_address_the_user_logged_in_from(backend) {
        let Some(app) = spawn_app(backend) else { return };
        let (email, _) = app.new_user();
        // The real user has logged in from here (127.0.0.1) before.
        assert_eq!(app.login(&email, PASSWORD).status, 200);
        // Then an attacker spends the account's 100 failures from elsewhere.
        let now = tessera::time::now();
        let row = FailureRow { subject: format!("account:{email}"), window_start: now - 60, failures: 100, last_failure: now };
        save_failures(&mut app.state.pool.get().unwrap(), &row).unwrap();
        assert_eq!(app.login(&email, PASSWORD).status, 200, "the user's own address still gets in");
    }

    fn wrong_current_passwords_at_the_password_endpoint_are_throttled_too(backend) {
        let Some(app) = spawn_app(backend) else { return };
        let (email, token) = app.new_user();
        let change = |current: &str| {
            let body = serde_json::json!({"current_password": current, "new_password": "a completely new passphrase"});
            app.post_authed("/v1/password", &token, &body)
        };
        for i in 0..5 {
            assert_eq!(change("not my password at all").status, 403, "attempt {i}");
        }
        let res = change("not my password at all");
        assert_eq!(res.status, 429, "{}", res.body);
        assert!(res.header("retry-after").is_some());
        // They count for the account like failed logins.
        assert_eq!(app.login(&email, PASSWORD).status, 429);
    }
}

both_backends! {
    fn a_burst_of_concurrent_guesses_gets_no_more_than_the_free_failures(backend) {
        let Some(app) = spawn_app(backend) else { return };
        let (email, _) = app.new_user();
        let barrier = std::sync::Barrier::new(20);
        let statuses: Vec<u16> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..20)
                .map(|_| {
                    s.spawn(|| {
                        barrier.wait();
                        app.login(&email, "a concurrent wrong guess").status
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let guessed = statuses.iter().filter(|s| **s == 401).count();
        assert!(statuses.iter().all(|s| *s == 401 || *s == 429), "{statuses:?}");
        assert_eq!(guessed, 5, "only the 5 free failures are checked: {statuses:?}");
    }
}
