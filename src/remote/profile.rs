//! AWS profiles: credentials and region from `~/.aws/credentials` and
//! `~/.aws/config`, as the AWS CLI reads them, for S3 remotes.
//!
//! object_store reads the `AWS_*` environment variables only. Where
//! `AWS_ACCESS_KEY_ID` is unset, the profile `AWS_PROFILE` (else
//! `default`) fills in the access key, secret and session token from the
//! credentials file (`AWS_SHARED_CREDENTIALS_FILE`), and the region from
//! the config file (`AWS_CONFIG_FILE`) if no `AWS_REGION` is set (else
//! us-east-1). The environment always wins, as with the AWS CLI.

use std::path::PathBuf;

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};

/// What a profile gives.
#[derive(Debug, Default, PartialEq)]
pub struct Profile {
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
    pub region: Option<String>,
}

/// `builder` with the profile's settings where the environment has none.
pub fn apply(mut builder: AmazonS3Builder) -> AmazonS3Builder {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let home = env("HOME").map(PathBuf::from).unwrap_or_default();
    let profile = read(
        &env("AWS_PROFILE").unwrap_or_else(|| "default".into()),
        &env("AWS_SHARED_CREDENTIALS_FILE")
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join(".aws/credentials")),
        &env("AWS_CONFIG_FILE")
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join(".aws/config")),
    );
    if env("AWS_ACCESS_KEY_ID").is_none()
        && let (Some(id), Some(secret)) = (profile.access_key_id, profile.secret_access_key)
    {
        builder = builder
            .with_config(AmazonS3ConfigKey::AccessKeyId, id)
            .with_config(AmazonS3ConfigKey::SecretAccessKey, secret);
        if let Some(token) = profile.session_token {
            builder = builder.with_config(AmazonS3ConfigKey::Token, token);
        }
    }
    if env("AWS_REGION").is_none() && env("AWS_DEFAULT_REGION").is_none() {
        // S3-compatible servers mostly ignore the region, but requests are
        // signed with one.
        let region = profile.region.unwrap_or_else(|| "us-east-1".into());
        builder = builder.with_config(AmazonS3ConfigKey::Region, region);
    }
    builder
}

/// Read profile `name` from the two files (missing files give nothing).
pub fn read(name: &str, credentials: &std::path::Path, config: &std::path::Path) -> Profile {
    let mut out = Profile::default();
    if let Ok(ini) = ini::Ini::load_from_file(credentials)
        && let Some(section) = ini.section(Some(name))
    {
        out.access_key_id = section.get("aws_access_key_id").map(str::to_string);
        out.secret_access_key = section.get("aws_secret_access_key").map(str::to_string);
        out.session_token = section.get("aws_session_token").map(str::to_string);
    }
    if let Ok(ini) = ini::Ini::load_from_file(config) {
        // The config file names non-default profiles `[profile NAME]`.
        let section_name = if name == "default" {
            name.to_string()
        } else {
            format!("profile {name}")
        };
        if let Some(section) = ini.section(Some(section_name)) {
            out.region = section.get("region").map(str::to_string);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_named_profile_and_its_region() {
        let dir = tempfile::tempdir().unwrap();
        let credentials = dir.path().join("credentials");
        let config = dir.path().join("config");
        std::fs::write(
            &credentials,
            "[default]\naws_access_key_id = D\naws_secret_access_key = DS\n\n[team]\naws_access_key_id = T\naws_secret_access_key = TS\naws_session_token = TT\n",
        )
        .unwrap();
        std::fs::write(
            &config,
            "[default]\nregion = eu-west-1\n[profile team]\nregion = eu-north-1\n",
        )
        .unwrap();
        assert_eq!(
            read("team", &credentials, &config),
            Profile {
                access_key_id: Some("T".into()),
                secret_access_key: Some("TS".into()),
                session_token: Some("TT".into()),
                region: Some("eu-north-1".into()),
            }
        );
        let default = read("default", &credentials, &config);
        assert_eq!(default.access_key_id.as_deref(), Some("D"));
        assert_eq!(default.region.as_deref(), Some("eu-west-1"));
        assert_eq!(
            read("none", &dir.path().join("x"), &dir.path().join("y")),
            Profile::default()
        );
    }
}
