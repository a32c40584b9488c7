//! The emulator's certificate authority and the TLS server configuration.
//!
//! A CA is generated on first start (`<data-dir>/ca.pem`, key `ca-key.pem` with
//! mode 0600). Leaf certificates are minted on demand per SNI name, for the
//! names in [`super::hosts`] only, and cached. Leaves carry the Authority Key
//! Identifier: Python 3.13's strict X.509 checks reject leaves without it.
//! ALPN offers `http/1.1` only: advertising h2 without speaking it breaks curl
//! and Go clients.

use super::hosts::{self, HostClass};
use dashmap::DashMap;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::path::Path;
use std::sync::Arc;

pub struct CertAuthority {
    pub cert_pem: String,
    cert_der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
    /// Minted leaves by lower-cased host name.
    leaves: DashMap<String, Arc<CertifiedKey>>,
}

impl std::fmt::Debug for CertAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertAuthority").finish_non_exhaustive()
    }
}

fn ca_params() -> CertificateParams {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "azemu local development CA");
    dn.push(DnType::OrganizationName, "azemu");
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(1);
    p.not_after = p.not_before + time::Duration::days(3650);
    p
}

impl CertAuthority {
    pub fn load_or_create(dir: &Path) -> anyhow::Result<Self> {
        let (cert_path, key_path) = (dir.join("ca.pem"), dir.join("ca-key.pem"));
        if cert_path.exists() && key_path.exists() {
            let key = KeyPair::from_pem(&std::fs::read_to_string(&key_path)?)?;
            let cert_pem = std::fs::read_to_string(&cert_path)?;
            let der = rustls_pemfile::certs(&mut cert_pem.as_bytes())
                .next()
                .ok_or_else(|| anyhow::anyhow!("{} holds no certificate", cert_path.display()))??;
            // The issuer is rebuilt from the same parameters: same subject, same key, so
            // the Authority Key Identifier of new leaves matches the stored CA.
            return Ok(Self::from_parts(
                cert_pem,
                der,
                Issuer::new(ca_params(), key),
            ));
        }
        let key = KeyPair::generate()?;
        let params = ca_params();
        let cert = params.self_signed(&key)?;
        crate::config::write_private(&key_path, key.serialize_pem().as_bytes())?;
        std::fs::write(&cert_path, cert.pem())?;
        Ok(Self::from_parts(
            cert.pem(),
            cert.der().clone(),
            Issuer::new(params, key),
        ))
    }

    fn from_parts(
        cert_pem: String,
        cert_der: CertificateDer<'static>,
        issuer: Issuer<'static, KeyPair>,
    ) -> Self {
        CertAuthority {
            cert_pem,
            cert_der,
            issuer,
            leaves: DashMap::new(),
        }
    }

    /// A leaf for `names` (first name is the cache key), minted once.
    pub fn leaf(&self, names: &[String]) -> anyhow::Result<Arc<CertifiedKey>> {
        let cache_key = names[0].to_ascii_lowercase();
        if let Some(k) = self.leaves.get(&cache_key) {
            return Ok(k.clone());
        }
        let key = KeyPair::generate()?;
        let mut p = CertificateParams::default();
        p.distinguished_name
            .push(DnType::CommonName, names[0].as_str());
        p.subject_alt_names = names
            .iter()
            .map(|n| match n.parse::<std::net::IpAddr>() {
                Ok(ip) => Ok(SanType::IpAddress(ip)),
                Err(_) => Ok(SanType::DnsName(n.as_str().try_into()?)),
            })
            .collect::<Result<_, rcgen::Error>>()?;
        p.use_authority_key_identifier_extension = true;
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        p.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(1);
        p.not_after = p.not_before + time::Duration::days(365);
        let cert = p.signed_by(&key, &self.issuer)?;
        let signer = rustls::crypto::ring::sign::any_supported_type(&PrivateKeyDer::Pkcs8(
            PrivatePkcs8KeyDer::from(key.serialize_der()),
        ))?;
        let ck = Arc::new(CertifiedKey::new(
            vec![cert.der().clone(), self.cert_der.clone()],
            signer,
        ));
        self.leaves.insert(cache_key, ck.clone());
        Ok(ck)
    }
}

#[derive(Debug)]
struct Resolver(Arc<CertAuthority>);

impl ResolvesServerCert for Resolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let names = match hello.server_name() {
            Some(sni)
                if hosts::classify(sni) == HostClass::Emulated && !hosts::is_loopback(sni) =>
            {
                vec![sni.to_string()]
            }
            // No SNI (IP-literal connections) or a loopback name: the fallback covers localhost and the loopback IPs.
            _ => hosts::fallback_names(),
        };
        match self.0.leaf(&names) {
            Ok(k) => Some(k),
            Err(e) => {
                tracing::warn!(error = %e, "could not mint a certificate");
                None
            }
        }
    }
}

pub fn server_config(ca: Arc<CertAuthority>) -> Arc<rustls::ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(Resolver(ca)));
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(cfg)
}
