//! The local blob store: one directory per firm under `storage.dir`. Documents arrive with the
//! sharing features; onboarding, deletion and readiness already need the directory layout.

use std::path::{Path, PathBuf};

use crate::ids::TenantId;

#[derive(Clone, Debug)]
pub struct BlobStore {
    root: PathBuf,
}

impl BlobStore {
    pub fn new(root: impl Into<PathBuf>) -> std::io::Result<Self> {
        let root = root.into();
        std::fs::create_dir_all(&root)?;
        Ok(Self { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn tenant_dir(&self, tenant: TenantId) -> PathBuf {
        self.root.join(tenant.to_string())
    }

    /// Removes every stored blob of a firm (part of deleting the firm).
    pub async fn delete_tenant(&self, tenant: TenantId) -> std::io::Result<()> {
        match tokio::fs::remove_dir_all(self.tenant_dir(tenant)).await {
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }

    /// Readiness: the store accepts a write (creates, syncs and removes a probe file).
    pub async fn check_writable(&self) -> std::io::Result<()> {
        let probe = self.root.join(format!(".ready-{}", uuid::Uuid::new_v4()));
        tokio::fs::write(&probe, b"ok").await?;
        tokio::fs::remove_file(&probe).await
    }
}
