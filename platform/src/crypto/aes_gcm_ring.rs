//! AES-256-GCM from `ring`, presented through RustCrypto's AEAD traits.
//!
//! Why two libraries: `ring`'s AES-GCM (AES-NI with carry-less multiplication over several
//! blocks at once) seals and opens about six times faster on this hardware than RustCrypto's
//! `aes-gcm`, whose GHASH takes one block at a time — and document transfer time was mostly
//! that. The STREAM construction that chains a blob's chunks (`aead::stream`) stays RustCrypto's:
//! it only needs an `AeadInPlace`, which this type is. The algorithm is the same AES-256-GCM
//! with a 96-bit nonce and a 128-bit tag, so every blob and wrapped key written before opens
//! unchanged (a test seals with one library and opens with the other).
//!
//! Trade-off, chosen knowingly: `ring` does not wipe its expanded key schedule when a key is
//! dropped (RustCrypto's `zeroize` feature did). The raw key bytes are still held in
//! `Zeroizing` buffers and wiped.

use aead::consts::{U0, U12, U16, U32};
use aead::generic_array::GenericArray;
use aead::{AeadCore, AeadInPlace, Key, KeyInit, KeySizeUser, Nonce, Tag};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, UnboundKey};

/// An AES-256-GCM key ready for use.
pub(super) struct Aes256GcmRing(LessSafeKey);

impl KeySizeUser for Aes256GcmRing {
    type KeySize = U32;
}

impl KeyInit for Aes256GcmRing {
    fn new(key: &Key<Self>) -> Self {
        // `ring` refuses only a key whose length is not the algorithm's; the type says 32.
        #[allow(clippy::expect_used)]
        let key = UnboundKey::new(&AES_256_GCM, key).expect("a 32-byte key is an AES-256 key");
        Self(LessSafeKey::new(key))
    }
}

impl AeadCore for Aes256GcmRing {
    type NonceSize = U12;
    type TagSize = U16;
    type CiphertextOverhead = U0;
}

fn ring_nonce(nonce: &Nonce<Aes256GcmRing>) -> ring::aead::Nonce {
    ring::aead::Nonce::assume_unique_for_key((*nonce).into())
}

impl AeadInPlace for Aes256GcmRing {
    fn encrypt_in_place_detached(
        &self,
        nonce: &Nonce<Self>,
        associated_data: &[u8],
        buffer: &mut [u8],
    ) -> aead::Result<Tag<Self>> {
        let tag = self
            .0
            .seal_in_place_separate_tag(ring_nonce(nonce), Aad::from(associated_data), buffer)
            .map_err(|_| aead::Error)?;
        Ok(GenericArray::clone_from_slice(tag.as_ref()))
    }

    fn decrypt_in_place_detached(
        &self,
        nonce: &Nonce<Self>,
        associated_data: &[u8],
        buffer: &mut [u8],
        tag: &Tag<Self>,
    ) -> aead::Result<()> {
        let tag = ring::aead::Tag::from(<[u8; 16]>::from(*tag));
        self.0
            .open_in_place_separate_tag(
                ring_nonce(nonce),
                Aad::from(associated_data),
                tag,
                buffer,
                0..,
            )
            .map(|_| ())
            .map_err(|_| aead::Error)
    }
}
