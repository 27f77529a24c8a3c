//! Telegram Bot API: `POST {api_url}/bot{token}/sendMessage` with `chat_id` and `text`
//! (plain text, no parse mode, so nothing in a cause needs escaping).

use serde::Deserialize;

use super::Event;
use super::config::{Ctx, S};
use super::http::{Request, join};
use super::secret::{Revealed, Secret};

/// The Bot API.
pub const DEFAULT_API_URL: &str = "https://api.telegram.org";

/// `telegram:` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Raw {
    bot_token_file: Option<S<String>>,
    bot_token_env: Option<S<String>>,
    chat_id: S<String>,
    api_url: Option<S<String>>,
    ca_file: Option<S<String>>,
}

/// A Telegram bot writing to one chat.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Telegram {
    /// The bot's token.
    pub bot_token: Secret,
    /// The chat: a numeric id or `@channelname`.
    pub chat_id: String,
    /// Base URL of the Bot API.
    pub api_url: String,
    /// Extra CA certificates for `api_url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<std::path::PathBuf>,
}

impl Telegram {
    pub(crate) fn validate(c: &mut Ctx<'_, '_>, raw: &Raw) -> Option<Telegram> {
        let token = c.secret(
            "bot_token",
            None,
            raw.bot_token_file.as_ref(),
            raw.bot_token_env.as_ref(),
            true,
        );
        let chat = raw.chat_id.value.trim();
        let chat_ok = chat.parse::<i64>().is_ok()
            || (chat.len() > 1
                && chat.starts_with('@')
                && chat[1..]
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_'));
        if !chat_ok {
            c.at(
                &raw.chat_id,
                "chat_id",
                format!("invalid chat_id {chat:?} (a number, or @channelname)"),
            );
        }
        let api_url = c.url_or(raw.api_url.as_ref(), "api_url", DEFAULT_API_URL);
        let ca_file = c.ca_file(raw.ca_file.as_ref());
        chat_ok.then_some(())?;
        Some(Telegram {
            bot_token: token??,
            chat_id: chat.to_owned(),
            api_url: api_url?,
            ca_file: ca_file?,
        })
    }

    /// `sendMessage`.
    pub(crate) fn request(&self, ev: &Event, r: &mut Revealed) -> Result<Request, String> {
        let token = r.reveal(&self.bot_token)?;
        let mut text = ev.title();
        for (k, v) in ev.facts() {
            text.push_str(&format!("\n{k}: {v}"));
        }
        let chat: serde_json::Value = match self.chat_id.parse::<i64>() {
            Ok(n) => n.into(),
            Err(_) => self.chat_id.clone().into(),
        };
        let body = serde_json::json!({
            "chat_id": chat,
            "text": super::truncate(&text, 4096),
            "link_preview_options": {"is_disabled": true},
            "disable_notification": ev.resolves(),
        });
        Ok(Request::post_json(
            join(&self.api_url, &format!("/bot{token}/sendMessage")),
            &body,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::channels::tests::down;

    #[test]
    fn send_message_to_the_chat() {
        let t = Telegram {
            bot_token: Secret::Value("123:ABC".to_owned()),
            chat_id: "-100200".to_owned(),
            api_url: "https://tg.test".to_owned(),
            ca_file: None,
        };
        let mut r = Revealed::default();
        let req = t.request(&down(), &mut r).unwrap();
        assert_eq!(req.url, "https://tg.test/bot123:ABC/sendMessage");
        assert_eq!(r.mask(&req.url), "https://tg.test/bot***/sendMessage");
        let b = req.json();
        assert_eq!(b["chat_id"], -100_200);
        assert!(
            b["text"]
                .as_str()
                .unwrap()
                .starts_with("db is down\nCheck: db")
        );
    }
}
