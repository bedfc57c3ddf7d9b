//! lettre transports: SMTP (plain, STARTTLS or implicit TLS, optional auth) or `.eml` files.

use std::time::Duration;

use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;

use crate::config::{MailSettings, MailTransportKind, SmtpTls};

#[derive(Clone)]
pub enum MailTransport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    File(AsyncFileTransport<Tokio1Executor>),
}

#[derive(Debug, thiserror::Error)]
#[error("mail transport: {0}")]
pub struct TransportError(String);

impl MailTransport {
    pub fn from_settings(settings: &MailSettings) -> Result<Self, TransportError> {
        match settings.transport {
            MailTransportKind::File => {
                std::fs::create_dir_all(&settings.file_dir).map_err(|err| {
                    TransportError(format!(
                        "cannot create {}: {err}",
                        settings.file_dir.display()
                    ))
                })?;
                Ok(MailTransport::File(AsyncFileTransport::new(
                    &settings.file_dir,
                )))
            }
            MailTransportKind::Smtp => {
                let host = settings.smtp_host.as_str();
                let mut builder = match settings.smtp_tls {
                    SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
                    SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)
                        .map_err(|err| TransportError(err.to_string()))?,
                    SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host)
                        .map_err(|err| TransportError(err.to_string()))?,
                }
                .port(settings.smtp_port)
                .timeout(Some(Duration::from_secs(settings.timeout_secs)));
                if !settings.smtp_username.is_empty() {
                    builder = builder.credentials(Credentials::new(
                        settings.smtp_username.clone(),
                        settings.smtp_password.expose_secret().to_owned(),
                    ));
                }
                Ok(MailTransport::Smtp(builder.build()))
            }
        }
    }

    pub async fn send(&self, message: Message) -> Result<(), TransportError> {
        match self {
            MailTransport::Smtp(smtp) => smtp
                .send(message)
                .await
                .map(|_| ())
                .map_err(|err| TransportError(err.to_string())),
            MailTransport::File(file) => file
                .send(message)
                .await
                .map(|_| ())
                .map_err(|err| TransportError(err.to_string())),
        }
    }
}
