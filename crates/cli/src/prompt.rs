//! What berth asks on the terminal: secrets, never echoed (or one line of standard input when it
//! is not a terminal), and yes/no confirmations.

use std::io::{BufRead, IsTerminal, Write};

use berth_core::fleet::{self, SecretKind};
use berth_core::model::Host;
use berth_core::Error;

/// How a secret is named to the user.
pub fn secret_words(kind: SecretKind) -> &'static str {
    match kind {
        SecretKind::Password => "SSH password",
        SecretKind::Passphrase => "key passphrase",
    }
}

/// Without a keyring, secrets cannot be stored: ask for each one now, for this run only.
pub fn secrets_for_this_run(hosts: &[Host]) -> Result<(), Error> {
    for ask in fleet::secrets_to_ask(hosts)? {
        if !std::io::stdin().is_terminal() {
            return Err(Error::KeyringUnavailable { reason: format!("{}; host {:?} needs a secret and there is no terminal to ask on", ask.reason, ask.host) });
        }
        let what = secret_words(ask.kind);
        eprintln!("berth: no OS keyring ({}); the {what} is used for this run only", ask.reason);
        let secret = read_secret(&format!("{what} for {}: ", ask.host))?;
        fleet::use_secret_for_this_run(&ask.host, ask.kind, secret);
    }
    Ok(())
}

/// A secret from the terminal without echo, or one line of standard input when it is not a terminal.
pub fn read_secret(prompt: &str) -> Result<String, Error> {
    let io = |source| Error::Io { context: "reading the secret".into(), source };
    let secret = if std::io::stdin().is_terminal() {
        prompt_without_echo(prompt).map_err(io)?
    } else {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map_err(io)?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    };
    if secret.is_empty() {
        return Err(Error::InvalidInput { what: "secret", reason: "it is empty".into() });
    }
    Ok(secret)
}

/// Ask on the terminal with echo turned off *before* the prompt shows, so a secret typed the
/// moment the prompt appears is never echoed.
#[cfg(unix)]
fn prompt_without_echo(prompt: &str) -> std::io::Result<String> {
    use std::os::fd::AsRawFd;
    let tty = std::fs::OpenOptions::new().read(true).write(true).open("/dev/tty")?;
    let fd = tty.as_raw_fd();
    let mut saved = unsafe { std::mem::zeroed::<libc::termios>() };
    if unsafe { libc::tcgetattr(fd, &mut saved) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut quiet = saved;
    quiet.c_lflag &= !libc::ECHO;
    quiet.c_lflag |= libc::ECHONL;
    if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let read = (|| {
        (&tty).write_all(prompt.as_bytes())?;
        (&tty).flush()?;
        let mut line = String::new();
        std::io::BufReader::new(&tty).read_line(&mut line)?;
        Ok(line.trim_end_matches(['\r', '\n']).to_owned())
    })();
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, &saved) };
    read
}

#[cfg(not(unix))]
fn prompt_without_echo(prompt: &str) -> std::io::Result<String> {
    rpassword::prompt_password(prompt)
}

/// `question [y/N]` on standard output, answered on standard input; `None` when standard input
/// is not a terminal, so there is no one to ask.
pub fn confirm(question: &str) -> Option<bool> {
    if !std::io::stdin().is_terminal() {
        return None;
    }
    print!("{question} [y/N] ");
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    Some(matches!(answer.trim(), "y" | "Y" | "yes"))
}
