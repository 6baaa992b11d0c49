//! Accounts over HTTP (SPEC §4, §5): signup, login and `/v1/me`, email
//! normalisation, password rules, and the uniform answer to bad credentials.
//! Each signup or login costs one argon2 hash, so tests keep them few.

use serde_json::Value;

use crate::both_backends;
use crate::helpers::*;

/// The bundled common-password list, read the same way the server reads it.
const COMMON_LIST: &str = include_str!("../../src/domain/common_passwords.txt");

/// The first entry of the common list that is long enough to pass the length rule.
fn long_common_password() -> &'static str {
    COMMON_LIST.lines().find(|l| l.chars().count() >= 12).expect("the list has an entry of 12 or more characters")
}

/// A fresh, unique address at a test domain.
fn fresh_email() -> String {
    format!("acct-{}@example.test", uuid::Uuid::new_v4().simple())
}

/// The object keys of a JSON body, sorted.
fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap_or_else(|| panic!("not an object: {v}")).keys().cloned().collect();
    k.sort();
    k
}

/// Headers that may differ between two otherwise identical responses.
fn comparable_headers(res: &Resp) -> Vec<(String, String)> {
    let mut h: Vec<(String, String)> = res
        .headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .filter(|(k, _)| k != "date" && k != "content-length")
        .collect();
    h.sort();
    h
}

/// Asserts the fields every token response has (SPEC §2: access token, Bearer, lifetime).
fn assert_token_response(res: &Resp) {
    let v = res.json();
    assert!(v["access_token"].as_str().is_some_and(|t| t.split('.').count() == 3), "no JWT in {v}");
    assert_eq!(v["token_type"], "Bearer", "{v}");
    assert_eq!(v["expires_in"], 900, "{v}");
    assert_eq!(res.header("Cache-Control"), Some("no-store"), "token responses must not be cached");
}

fn assert_rfc3339_utc(s: &str) {
    assert!(s.ends_with('Z'), "{s:?} is not UTC with a Z");
    assert!(chrono::DateTime::parse_from_rfc3339(s).is_ok(), "{s:?} is not RFC 3339");
}

both_backends! {
    fn signup_login_and_me_round_trip_with_the_documented_shapes(backend) {
        let Some(app) = spawn_app(backend) else { return };
        let email = format!("Round.Trip-{}@Example.test", uuid::Uuid::new_v4().simple());

        let signup = app.signup(&email, PASSWORD);
        assert_eq!(signup.status, 201, "{}", signup.body);
        assert_token_response(&signup);
        let body = signup.json();
        let user = &body["user"];
        assert_eq!(keys(user), ["created_at", "email", "id", "role"], "{user}");
        let id = user["id"].as_str().expect("id is a string");
        assert!(uuid::Uuid::parse_str(id).is_ok(), "{id:?} is not a UUID");
        assert_eq!(user["email"], email.as_str());
        assert_eq!(user["role"], "user");
        assert_rfc3339_utc(user["created_at"].as_str().expect("created_at is a string"));
        assert_eq!(jwt_part(body["access_token"].as_str().unwrap(), 1)["sub"], id);

        let login = app.login(&email, PASSWORD);
        assert_eq!(login.status, 200, "{}", login.body);
        assert_token_response(&login);
        let login_body = login.json();
        assert!(login_body.get("user").is_none(), "login answers without a user: {login_body}");
        for key in keys(&login_body) {
            assert!(
                ["access_token", "token_type", "expires_in", "refresh_token"].contains(&key.as_str()),
                "unexpected field {key:?} in a token response: {login_body}"
            );
        }

        let token = login_body["access_token"].as_str().unwrap();
        let me = app.me(token);
        assert_eq!(me.status, 200, "{}", me.body);
        assert_eq!(&me.json(), user, "/v1/me shows the user that signup returned");
    }

    fn email_addresses_differing_only_in_case_are_one_account(backend) {
        let Some(app) = spawn_app(backend) else { return };
        assert_eq!(app.signup("Ann@Example.com", PASSWORD).status, 201);
        let dup = app.signup("ann@example.com", "a different long password");
        assert_eq!(dup.status, 409, "{}", dup.body);
        assert_eq!(dup.error_code(), "email_taken");

        assert_eq!(app.signup("ÜLRICH@x.test", PASSWORD).status, 201);
        let dup = app.signup("ülrich@x.test", PASSWORD);
        assert_eq!(dup.status, 409, "{}", dup.body);
        assert_eq!(dup.error_code(), "email_taken");

        // Login folds case the same way, beyond ASCII, and /v1/me keeps the address as typed.
        let login = app.login("ANN@EXAMPLE.COM", PASSWORD);
        assert_eq!(login.status, 200, "{}", login.body);
        assert_eq!(app.me(login.json()["access_token"].as_str().unwrap()).json()["email"], "Ann@Example.com");
        let login = app.login("ülrich@X.TEST", PASSWORD);
        assert_eq!(login.status, 200, "{}", login.body);
        assert_eq!(app.me(login.json()["access_token"].as_str().unwrap()).json()["email"], "ÜLRICH@x.test");
    }

    fn email_is_trimmed_and_shown_as_typed(backend) {
        let Some(app) = spawn_app(backend) else { return };
        let signup = app.signup("  \tBob.Smith@Example.COM \n", PASSWORD);
        assert_eq!(signup.status, 201, "{}", signup.body);
        assert_eq!(signup.json()["user"]["email"], "Bob.Smith@Example.COM");

        let dup = app.signup("bob.smith@example.com", PASSWORD);
        assert_eq!(dup.status, 409, "{}", dup.body);
        assert_eq!(dup.error_code(), "email_taken");

        let login = app.login("  bob.smith@EXAMPLE.com  ", PASSWORD);
        assert_eq!(login.status, 200, "{}", login.body);
        let me = app.me(login.json()["access_token"].as_str().unwrap());
        assert_eq!(me.json()["email"], "Bob.Smith@Example.COM");
    }

    fn composed_and_decomposed_email_forms_are_one_account(backend) {
        let Some(app) = spawn_app(backend) else { return };
        let composed = "j\u{e9}r\u{f4}me@x.test";
        let decomposed = "je\u{301}ro\u{302}me@x.test";
        assert_eq!(app.signup(composed, PASSWORD).status, 201);
        let dup = app.signup(decomposed, PASSWORD);
        assert_eq!(dup.status, 409, "{}", dup.body);
        assert_eq!(dup.error_code(), "email_taken");
        assert_eq!(app.login(decomposed, PASSWORD).status, 200);
        assert_eq!(app.login("JE\u{301}RO\u{302}ME@X.TEST", PASSWORD).status, 200);
    }

    fn invalid_emails_are_refused_with_invalid_email(backend) {
        let Some(app) = spawn_app(backend) else { return };
        let too_long = format!("{}@x.test", "a".repeat(255 - "@x.test".len()));
        assert_eq!(too_long.chars().count(), 255);
        for bad in ["", "   ", "no-at-sign.example.test", "two@at@x.test", "@x.test", "local@", "@", too_long.as_str()] {
            let res = app.signup(bad, PASSWORD);
            assert_eq!(res.status, 400, "{bad:?}: {}", res.body);
            assert_eq!(res.error_code(), "invalid_email", "{bad:?}");
        }
        // 254 characters is still an address.
        let longest = format!("{}@x.test", "b".repeat(254 - "@x.test".len()));
        let res = app.signup(&longest, PASSWORD);
        assert_eq!(res.status, 201, "{}", res.body);
    }

    fn password_length_limits_are_12_and_1024_characters(backend) {
        let Some(app) = spawn_app(backend) else { return };
        let res = app.signup(&fresh_email(), "kx7-vq2-mz9");
        assert_eq!(res.status, 400, "{}", res.body);
        assert_eq!(res.error_code(), "invalid_password");

        let twelve = "kx7-vq2-mz9w";
        let email = fresh_email();
        assert_eq!(app.signup(&email, twelve).status, 201);
        assert_eq!(app.login(&email, twelve).status, 200);

        let seed = uuid::Uuid::new_v4().simple().to_string();
        let max: String = seed.chars().cycle().take(1024).collect();
        let email = fresh_email();
        let res = app.signup(&email, &max);
        assert_eq!(res.status, 201, "{}", res.body);
        assert_eq!(app.login(&email, &max).status, 200);
        // Never truncated: the first 1023 characters are not the password.
        assert_eq!(app.login(&email, &max[..1023]).status, 401);

        let over: String = seed.chars().cycle().take(1025).collect();
        let res = app.signup(&fresh_email(), &over);
        assert_eq!(res.status, 400, "{}", res.body);
        assert_eq!(res.error_code(), "invalid_password");
    }

    fn common_password_is_refused_as_weak_in_any_case(backend) {
        let Some(app) = spawn_app(backend) else { return };
        let common = long_common_password();
        for pw in [common.to_owned(), common.to_uppercase()] {
            let email = fresh_email();
            let res = app.signup(&email, &pw);
            assert_eq!(res.status, 400, "{pw:?}: {}", res.body);
            assert_eq!(res.error_code(), "weak_password", "{pw:?}");
        }
    }

    fn full_width_password_logs_in_with_its_ascii_form(backend) {
        let Some(app) = spawn_app(backend) else { return };
        let email = fresh_email();
        let res = app.signup(&email, "ｃｏｒｒｅｃｔ ｈｏｒｓｅ ｂａｔｔｅｒｙ");
        assert_eq!(res.status, 201, "{}", res.body);
        assert_eq!(app.login(&email, "correct horse battery").status, 200);
        assert_eq!(app.login(&email, "ｃｏｒｒｅｃｔ ｈｏｒｓｅ ｂａｔｔｅｒｙ").status, 200);
    }

    fn non_ascii_password_round_trips(backend) {
        let Some(app) = spawn_app(backend) else { return };
        let email = fresh_email();
        let password = "🔑🐘 正しい馬の電池のホチキス ñandú";
        let res = app.signup(&email, password);
        assert_eq!(res.status, 201, "{}", res.body);
        assert_eq!(app.login(&email, password).status, 200);
        assert_eq!(app.login(&email, "🔑🐘 正しい馬の電池のホチキス nandu").status, 401);
    }

    fn unknown_email_and_wrong_password_get_identical_answers(backend) {
        let Some(app) = spawn_app(backend) else { return };
        let (email, _) = app.new_user();
        let wrong_password = app.login(&email, "not the password at all");
        let unknown_email = app.login(&fresh_email(), "not the password at all");
        for res in [&wrong_password, &unknown_email] {
            assert_eq!(res.status, 401, "{}", res.body);
            assert_eq!(res.error_code(), "invalid_credentials");
        }
        assert_eq!(wrong_password.body, unknown_email.body);
        assert_eq!(comparable_headers(&wrong_password), comparable_headers(&unknown_email));
        assert_eq!(wrong_password.header("content-length"), unknown_email.header("content-length"));
    }

    fn failed_signup_does_not_create_or_change_an_account(backend) {
        let Some(app) = spawn_app(backend) else { return };
        // A refused password leaves the address free.
        let email = fresh_email();
        assert_eq!(app.signup(&email, long_common_password()).status, 400);
        assert_eq!(app.signup(&email, "short").status, 400);
        assert_eq!(app.login(&email, long_common_password()).status, 401);
        assert_eq!(app.signup(&email, PASSWORD).status, 201, "the address is still free");

        // A taken address keeps its password and its display form.
        let other = "a different long password";
        let dup = app.signup(&email.to_uppercase(), other);
        assert_eq!(dup.status, 409, "{}", dup.body);
        assert_eq!(app.login(&email, other).status, 401);
        let login = app.login(&email, PASSWORD);
        assert_eq!(login.status, 200, "the original password still logs in");
        assert_eq!(app.me(login.json()["access_token"].as_str().unwrap()).json()["email"], email.as_str());
    }

    fn raised_password_minimum_refuses_shorter_passwords(backend) {
        let Some(app) = spawn_app_with(backend, |s| s.password_min = 16) else { return };
        let res = app.signup(&fresh_email(), "kx7-vq2-mz9w-pl4");
        assert_eq!(res.status, 201, "16 characters are enough: {}", res.body);
        let res = app.signup(&fresh_email(), "kx7-vq2-mz9w-pl");
        assert_eq!(res.status, 400, "{}", res.body);
        assert_eq!(res.error_code(), "invalid_password");
        let description = res.json()["error_description"].as_str().unwrap().to_owned();
        assert!(description.contains("16"), "the description names the minimum: {description:?}");
    }
}

both_backends! {
    fn a_hash_with_other_argon2_parameters_is_upgraded_at_the_next_login(backend) {
        let Some(app) = spawn_app_with(backend, |s| s.argon2.iterations = 3) else { return };
        let (email, _) = app.new_user();
        // Make the stored hash an older, cheaper one (t=2), as if the cost was raised since.
        let old = tessera::auth::Hasher::new(tessera::config::Argon2Settings { memory_kib: 19456, iterations: 2, parallelism: 1 })
            .unwrap()
            .hash_blocking(&tessera::domain::Password::normalize(PASSWORD))
            .unwrap();
        let mut conn = app.state.pool.get().unwrap();
        let user = tessera::db::users::find_user_by_email(&mut conn, &email).unwrap().unwrap();
        assert!(tessera::db::users::update_password_hash(&mut conn, &user.id, &user.password_hash, &old, 0).unwrap());
        assert_eq!(app.login(&email, PASSWORD).status, 200);
        let upgraded = tessera::db::users::find_user_by_email(&mut conn, &email).unwrap().unwrap().password_hash;
        assert!(upgraded.starts_with("$argon2id$v=19$m=19456,t=3,p=1$"), "{upgraded}");
        assert_eq!(app.login(&email, PASSWORD).status, 200, "the upgraded hash verifies");
    }
}
