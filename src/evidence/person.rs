//! Who runs the bench or approves a baseline, as the evidence names them: a name and where it
//! came from (the command line, `$RIG_OPERATOR`, the login name, the password entry).

/// Who runs (or approves): a name and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub name: String,
    pub source: String,
}

/// The person at the bench: `flag` (given on the command line as `flag_name`), else
/// `$RIG_OPERATOR`, else the login name of the controlling terminal (`getlogin`), else the
/// password entry of the process's uid. `$USER` is not asked: anyone can set it to anything,
/// and a record must say where a name came from. None of them: an error saying how to give one.
pub fn identify_person(flag: Option<&str>, flag_name: &str) -> Result<Person, String> {
    let uid = nix::unistd::getuid();
    let sources = PersonSources {
        flag,
        rig_operator: std::env::var("RIG_OPERATOR").ok(),
        login: login_name(),
        password_entry: nix::unistd::User::from_uid(uid).ok().flatten().map(|u| u.name),
        uid: uid.as_raw(),
    };
    person_from(&sources, flag_name)
}

/// What [`identify_person`] looks at, in its order.
struct PersonSources<'a> {
    flag: Option<&'a str>,
    rig_operator: Option<String>,
    login: Option<String>,
    password_entry: Option<String>,
    uid: u32,
}

fn person_from(s: &PersonSources<'_>, flag_name: &str) -> Result<Person, String> {
    let named = |v: &str| (!v.trim().is_empty()).then(|| v.trim().to_string());
    let found = [
        (s.flag.and_then(named), flag_name.to_string()),
        (s.rig_operator.as_deref().and_then(named), "RIG_OPERATOR".to_string()),
        (s.login.as_deref().and_then(named), "login name (getlogin)".to_string()),
        (s.password_entry.as_deref().and_then(named), format!("password entry of uid {}", s.uid)),
    ]
    .into_iter()
    .find_map(|(name, source)| name.map(|name| Person { name, source }));
    found.ok_or_else(|| {
        format!(
            "nobody to name as the person running the bench: no {flag_name}, no RIG_OPERATOR, no login name and no \
             password entry for uid {}; give {flag_name} NAME (a nightly passes its CI user)",
            s.uid
        )
    })
}

/// The login name of the process's controlling terminal, from utmp (`getlogin(3)`).
fn login_name() -> Option<String> {
    // SAFETY: getlogin returns NULL or a pointer to a NUL-terminated static buffer, which is
    // copied at once; the rig calls it from one thread at a time (once per run or approval).
    let name = unsafe {
        let p = libc::getlogin();
        if p.is_null() {
            return None;
        }
        std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned()
    };
    Some(name).filter(|n| !n.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources<'a>(
        flag: Option<&'a str>,
        env: Option<&str>,
        login: Option<&str>,
        pw: Option<&str>,
    ) -> PersonSources<'a> {
        PersonSources {
            flag,
            rig_operator: env.map(str::to_owned),
            login: login.map(str::to_owned),
            password_entry: pw.map(str::to_owned),
            uid: 1000,
        }
    }

    #[test]
    fn the_operator_comes_from_the_flag_then_the_environment_then_the_login_then_the_password_entry() {
        let p = |s: PersonSources<'_>| person_from(&s, "--operator").unwrap();
        let all = p(sources(Some("j.doe"), Some("ci"), Some("pi"), Some("pw")));
        assert_eq!((all.name.as_str(), all.source.as_str()), ("j.doe", "--operator"));
        let env = p(sources(Some("  "), Some("ci"), Some("pi"), Some("pw")));
        assert_eq!((env.name.as_str(), env.source.as_str()), ("ci", "RIG_OPERATOR"));
        let login = p(sources(None, Some(""), Some("pi"), Some("pw")));
        assert_eq!((login.name.as_str(), login.source.as_str()), ("pi", "login name (getlogin)"));
        let pw = p(sources(None, None, None, Some("pw")));
        assert_eq!((pw.name.as_str(), pw.source.as_str()), ("pw", "password entry of uid 1000"));
    }

    #[test]
    fn with_no_source_there_is_no_operator_and_the_error_says_how_to_give_one() {
        let e = person_from(&sources(None, None, None, None), "--operator").unwrap_err();
        assert!(e.contains("give --operator NAME"), "{e}");
        assert!(!e.contains("unknown"), "{e}");
    }
}
