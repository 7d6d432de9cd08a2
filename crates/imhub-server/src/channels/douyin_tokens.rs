//! Douyin's OAuth tokens kept in imhub's database, so they survive restarts
//! and are shared by every node. Values are stored as JSON in the channel's
//! state; they are never logged.

use std::sync::Arc;

use async_trait::async_trait;
use imhub_core::{AccountState, ChannelId, WorkspaceId};
use imhub_douyin::{ClientToken, TokenStore, TokenStoreError, UserTokens};
use imhub_store::Store;

/// [`TokenStore`] over imhub's store, for one channel.
pub struct StoredTokens {
    pub store: Arc<dyn Store>,
    pub workspace: WorkspaceId,
    pub channel: ChannelId,
}

fn fail(e: impl std::fmt::Display) -> TokenStoreError {
    TokenStoreError(e.to_string())
}

impl StoredTokens {
    async fn load_json<T: serde::de::DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<T>, TokenStoreError> {
        match self
            .store
            .get_channel_state(self.channel, key)
            .await
            .map_err(fail)?
        {
            Some(text) => serde_json::from_str(&text).map(Some).map_err(fail),
            None => Ok(None),
        }
    }

    async fn save_json<T: serde::Serialize>(
        &self,
        key: &str,
        value: &T,
    ) -> Result<(), TokenStoreError> {
        let text = serde_json::to_string(value).map_err(fail)?;
        self.store
            .put_channel_state(self.channel, key, &text)
            .await
            .map_err(fail)
    }
}

#[async_trait]
impl TokenStore for StoredTokens {
    async fn load(&self, open_id: &str) -> Result<Option<UserTokens>, TokenStoreError> {
        self.load_json(&format!("douyin.user_tokens.{open_id}"))
            .await
    }

    async fn save(&self, tokens: &UserTokens) -> Result<(), TokenStoreError> {
        self.save_json(&format!("douyin.user_tokens.{}", tokens.open_id), tokens)
            .await?;
        // A fresh authorization brings a revoked account back.
        if let Some(account) = self
            .store
            .find_account(self.workspace, self.channel, &tokens.open_id)
            .await
            .map_err(fail)?
            && account.state != AccountState::Active
        {
            self.store
                .set_account_state(self.workspace, account.id, AccountState::Active, None)
                .await
                .map_err(fail)?;
        }
        Ok(())
    }

    async fn mark_reauthorization_required(
        &self,
        open_id: &str,
        reason: &str,
    ) -> Result<(), TokenStoreError> {
        if let Some(account) = self
            .store
            .find_account(self.workspace, self.channel, open_id)
            .await
            .map_err(fail)?
        {
            self.store
                .set_account_state(
                    self.workspace,
                    account.id,
                    AccountState::NeedsReauthorization,
                    Some(reason),
                )
                .await
                .map_err(fail)?;
        }
        Ok(())
    }

    async fn load_client_token(
        &self,
        client_key: &str,
    ) -> Result<Option<ClientToken>, TokenStoreError> {
        self.load_json(&format!("douyin.client_token.{client_key}"))
            .await
    }

    async fn save_client_token(
        &self,
        client_key: &str,
        token: &ClientToken,
    ) -> Result<(), TokenStoreError> {
        self.save_json(&format!("douyin.client_token.{client_key}"), token)
            .await
    }
}
