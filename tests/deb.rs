//! `dist/build-deb.sh`: the Debian package holds the binary, the unit, the
//! config as a conffile, the docs, and maintainer scripts that create the
//! `junction` user; lintian (where installed) finds nothing. Built from the
//! test binary (no release build) with `--fast`; skipped, with a message,
//! where dpkg-deb is not installed.

use std::path::Path;
use std::process::Command;

/// A maintainer lintian accepts (the script's default, from git or
/// `junction@localhost`, may not be).
const MAINTAINER: &str = "Junction developers <junction@example.org>";

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("runs");
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

#[test]
fn the_debian_package_holds_what_an_install_needs() {
    if Command::new("dpkg-deb").arg("--version").output().is_err() {
        eprintln!("skipped: dpkg-deb is not installed");
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = tempfile::tempdir().expect("temp dir");
    let deb = run(Command::new("sh")
        .arg(root.join("dist/build-deb.sh"))
        .args([
            "--fast",
            "--binary",
            env!("CARGO_BIN_EXE_junction"),
            "--out",
        ])
        .arg(out.path())
        .env("DEB_MAINTAINER", MAINTAINER));
    let deb = Path::new(deb.trim());
    let arch = run(Command::new("dpkg").arg("--print-architecture"));
    assert_eq!(
        deb.file_name().and_then(|n| n.to_str()),
        Some(
            format!(
                "junction_{}-1_{}.deb",
                env!("CARGO_PKG_VERSION"),
                arch.trim()
            )
            .as_str()
        )
    );

    // lintian, where installed: no error or warning (info tags aside).
    if let Ok(out) = Command::new("lintian")
        .args(["--tag-display-limit", "0"])
        .arg(deb)
        .output()
    {
        let report = String::from_utf8_lossy(&out.stdout);
        let tags: Vec<&str> = report
            .lines()
            .filter(|l| l.starts_with("E:") || l.starts_with("W:"))
            .collect();
        assert!(tags.is_empty(), "lintian:\n{report}");
    } else {
        eprintln!("lintian is not installed: not run");
    }

    // The files, with owners and modes.
    let contents = run(Command::new("dpkg-deb").arg("--contents").arg(deb));
    let mut files: Vec<(String, String, String)> = contents
        .lines()
        .filter(|l| !l.starts_with('d'))
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[0].to_owned(), f[1].to_owned(), f[5].to_owned())
        })
        .collect();
    files.sort_by(|a, b| a.2.cmp(&b.2));
    let file = |mode: &str, path: &str| (mode.to_owned(), "root/root".to_owned(), path.to_owned());
    assert_eq!(
        files,
        vec![
            file("-rw-r--r--", "./etc/junction/config.json"),
            file("-rwxr-xr-x", "./usr/bin/junction"),
            file("-rw-r--r--", "./usr/lib/systemd/system/junction.service"),
            file("-rw-r--r--", "./usr/share/doc/junction/README.md.gz"),
            file("-rw-r--r--", "./usr/share/doc/junction/changelog.Debian.gz"),
            file("-rw-r--r--", "./usr/share/doc/junction/config.md.gz"),
            file("-rw-r--r--", "./usr/share/doc/junction/copyright"),
            file(
                "-rw-r--r--",
                "./usr/share/doc/junction/grafana-dashboard.json"
            ),
            file("-rw-r--r--", "./usr/share/doc/junction/metrics.md.gz"),
            file("-rw-r--r--", "./usr/share/doc/junction/operations.md.gz"),
            file("-rw-r--r--", "./usr/share/lintian/overrides/junction"),
            file("-rw-r--r--", "./usr/share/man/man1/junction.1.gz"),
        ]
    );

    // The control fields.
    let field = |name: &str| {
        run(Command::new("dpkg-deb")
            .args(["--field"])
            .arg(deb)
            .arg(name))
        .trim()
        .to_owned()
    };
    assert_eq!(field("Package"), "junction");
    assert_eq!(field("Maintainer"), MAINTAINER);
    assert_eq!(field("Version"), format!("{}-1", env!("CARGO_PKG_VERSION")));
    assert_eq!(field("Architecture"), arch.trim());
    let depends = field("Depends");
    assert!(depends.starts_with("libc6 (>= 2."), "{depends}");
    assert!(depends.ends_with(", libgcc-s1, adduser"), "{depends}");

    // The maintainer scripts and the conffile.
    let control = out.path().join("control");
    run(Command::new("dpkg-deb")
        .arg("--control")
        .arg(deb)
        .arg(&control));
    let read = |name: &str| std::fs::read_to_string(control.join(name)).expect(name);
    assert_eq!(read("conffiles"), "/etc/junction/config.json\n");
    let postinst = read("postinst");
    assert!(
        postinst.contains("adduser --system --group")
            && postinst.contains("--home /var/lib/junction"),
        "{postinst}"
    );
    for script in ["postinst", "prerm", "postrm"] {
        run(Command::new("sh").arg("-n").arg(control.join(script)));
    }
    // postinst with stand-ins for the system tools: the user is created
    // once, the unit enabled (not started).
    let stubs = out.path().join("stubs");
    std::fs::create_dir(&stubs).expect("mkdir");
    let log = out.path().join("calls.log");
    for (tool, status) in [
        ("getent", "${GETENT_STATUS:-2}"),
        ("adduser", "0"),
        ("systemctl", "0"),
        // `was-enabled` answers yes on a first install.
        ("deb-systemd-helper", "0"),
    ] {
        let stub = stubs.join(tool);
        std::fs::write(
            &stub,
            format!(
                "#!/bin/sh\necho \"{tool} $*\" >> '{}'\nexit {status}\n",
                log.display()
            ),
        )
        .expect("stub");
        run(Command::new("chmod").arg("755").arg(&stub));
    }
    let path = format!("{}:/usr/bin:/bin", stubs.display());
    let postinst_with = |getent: &str| {
        let _ = std::fs::remove_file(&log);
        run(Command::new("sh")
            .arg(control.join("postinst"))
            .arg("configure")
            .env("PATH", &path)
            .env("GETENT_STATUS", getent));
        std::fs::read_to_string(&log).expect("calls")
    };
    let calls = postinst_with("2");
    assert!(
        calls.contains(
            "adduser --system --group --quiet --home /var/lib/junction --no-create-home \
             --gecos Junction WAMP router junction\n"
        ),
        "{calls}"
    );
    assert!(
        calls.contains("deb-systemd-helper enable junction.service"),
        "{calls}"
    );
    assert!(!calls.contains(" start"), "not started: {calls}");
    let calls = postinst_with("0");
    assert!(!calls.contains("adduser"), "the user exists: {calls}");
    let md5sums = read("md5sums");
    assert_eq!(md5sums.lines().count(), files.len(), "{md5sums}");

    // The payload: the repository's unit and config, a binary that runs.
    let tree = out.path().join("tree");
    run(Command::new("dpkg-deb")
        .arg("--extract")
        .arg(deb)
        .arg(&tree));
    for (inside, source) in [
        ("etc/junction/config.json", "dist/config.json"),
        (
            "usr/lib/systemd/system/junction.service",
            "dist/junction.service",
        ),
    ] {
        assert_eq!(
            std::fs::read(tree.join(inside)).expect(inside),
            std::fs::read(root.join(source)).expect(source),
            "{inside}"
        );
    }
    let version = run(Command::new(tree.join("usr/bin/junction")).arg("version"));
    assert_eq!(
        version.trim(),
        format!("junction {}", env!("CARGO_PKG_VERSION"))
    );
}
