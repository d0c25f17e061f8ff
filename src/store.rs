//! Object stores by URL: `s3://`, `gs://`, `az://` (and `abfs(s)://`, `azure://`) and
//! `http(s)://` locations, for `hazy sql`, the stream runtime and the Ballista processes.
//!
//! The stores are the `object_store` crate's, configured the way datafusion-cli configures them:
//! from the usual environment variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//! `AWS_REGION`, `AWS_ENDPOINT`, `AWS_ALLOW_HTTP`, `GOOGLE_SERVICE_ACCOUNT`,
//! `AZURE_STORAGE_ACCOUNT_NAME`, …, read by `object_store`'s `from_env` builders), and per table
//! from `OPTIONS ('aws.region' '…', 'gcp.service_account_path' '…', 'azure.account_name' '…')`
//! on `CREATE EXTERNAL TABLE` and `COPY … TO`, which override the environment.
//!
//! [`ObjectStores`] is an [`ObjectStoreRegistry`] that builds a store the first time a bucket is
//! named (as a table name, a `LOCATION` or a `COPY` target) and keeps it for the session.
//! A location whose store cannot be configured fails with the scheme, the bucket and the
//! reason (for example a missing region or credentials), never a panic.
//!
//! ```
//! use hazy::store::{split_store_options, StoreScheme};
//! let mut options = std::collections::HashMap::from([
//!     ("aws.region".to_string(), "eu-west-1".to_string()),
//!     ("format.compression".to_string(), "zstd".to_string()),
//! ]);
//! let store = split_store_options(&mut options);
//! assert_eq!(store["aws.region"], "eu-west-1");
//! assert_eq!(options.len(), 1); // what DataFusion's formats read stays in place
//! assert_eq!(StoreScheme::of("s3"), Some(StoreScheme::S3));
//! ```

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, RwLock};

use datafusion::common::{DataFusionError, Result};
use datafusion::execution::object_store::ObjectStoreRegistry;
use object_store::ObjectStore;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::http::HttpBuilder;
use object_store::local::LocalFileSystem;
use url::Url;

/// The option prefixes that configure a store rather than a file format.
const STORE_PREFIXES: [&str; 4] = ["aws.", "gcp.", "azure.", "http."];

/// The remote stores Hazy can open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreScheme {
    /// Amazon S3 and S3-protocol servers (`s3://`, `s3a://`).
    S3,
    /// Google Cloud Storage (`gs://`, `gcs://`).
    Gcs,
    /// Azure Blob Storage and Data Lake (`az://`, `azure://`, `abfs://`, `abfss://`, `adl://`).
    Azure,
    /// Plain HTTP(S), read-only unless the server speaks WebDAV (`http://`, `https://`).
    Http,
}

impl StoreScheme {
    /// The store behind a URL scheme; `None` for local files and unknown schemes.
    pub fn of(scheme: &str) -> Option<Self> {
        match scheme {
            "s3" | "s3a" => Some(Self::S3),
            "gs" | "gcs" => Some(Self::Gcs),
            "az" | "azure" | "abfs" | "abfss" | "adl" => Some(Self::Azure),
            "http" | "https" => Some(Self::Http),
            _ => None,
        }
    }

    fn option_prefix(self) -> &'static str {
        match self {
            Self::S3 => "aws.",
            Self::Gcs => "gcp.",
            Self::Azure => "azure.",
            Self::Http => "http.",
        }
    }
}

/// Removes the store options (`aws.*`, `gcp.*`, `azure.*`, `http.*`) from `options` and returns
/// them; the rest (`format.*`, …) is for DataFusion's file formats.
pub fn split_store_options(options: &mut HashMap<String, String>) -> HashMap<String, String> {
    let keys: Vec<String> = options
        .keys()
        .filter(|k| {
            let k = k.to_ascii_lowercase();
            STORE_PREFIXES.iter().any(|p| k.starts_with(p))
        })
        .cloned()
        .collect();
    keys.into_iter()
        .filter_map(|k| options.remove_entry(&k))
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect()
}

/// Builds the store for `url` from the environment, then `options` (see the module docs).
pub fn build_store(url: &Url, options: &HashMap<String, String>) -> Result<Arc<dyn ObjectStore>> {
    let scheme = StoreScheme::of(url.scheme()).ok_or_else(|| {
        DataFusionError::Plan(format!(
            "{url}: unsupported location scheme '{}' (expected a local path, s3://, gs://, az://, http:// or https://)",
            url.scheme()
        ))
    })?;
    if let Some(key) = options
        .keys()
        .find(|k| !k.starts_with(scheme.option_prefix()))
    {
        return Err(DataFusionError::Plan(format!(
            "{url}: option '{key}' is for another store; {} locations take '{}*' options",
            url.scheme(),
            scheme.option_prefix()
        )));
    }
    let bucket = url.host_str().unwrap_or_default();
    let fail = |e: object_store::Error| {
        DataFusionError::Plan(format!("cannot open {}://{bucket}: {e}", url.scheme()))
    };
    let store: Arc<dyn ObjectStore> = match scheme {
        StoreScheme::S3 => {
            let mut b = AmazonS3Builder::from_env().with_bucket_name(bucket);
            for (k, v) in options {
                b = b.with_config(parse_key::<AmazonS3ConfigKey>(url, k, "aws_")?, v);
            }
            Arc::new(b.build().map_err(fail)?)
        }
        StoreScheme::Gcs => {
            let mut b = GoogleCloudStorageBuilder::from_env().with_bucket_name(bucket);
            for (k, v) in options {
                b = b.with_config(parse_key::<GoogleConfigKey>(url, k, "google_")?, v);
            }
            Arc::new(b.build().map_err(fail)?)
        }
        StoreScheme::Azure => {
            let mut b = MicrosoftAzureBuilder::from_env().with_url(url.as_str());
            for (k, v) in options {
                b = b.with_config(parse_key::<AzureConfigKey>(url, k, "azure_")?, v);
            }
            Arc::new(b.build().map_err(fail)?)
        }
        StoreScheme::Http => {
            let origin = url.origin().ascii_serialization();
            let mut b = HttpBuilder::new().with_url(origin);
            for (k, v) in options {
                b = b.with_config(parse_key::<object_store::ClientConfigKey>(url, k, "")?, v);
            }
            Arc::new(b.build().map_err(fail)?)
        }
    };
    Ok(store)
}

/// `aws.access_key_id` → the store's key, as `object_store` names it with or without its
/// own prefix (`aws_access_key_id`).
fn parse_key<K: FromStr>(url: &Url, key: &str, own_prefix: &str) -> Result<K> {
    let bare = key.split_once('.').map_or(key, |(_, rest)| rest);
    bare.parse()
        .or_else(|_| format!("{own_prefix}{bare}").parse())
        .map_err(|_| {
            DataFusionError::Plan(format!(
                "{url}: unknown option '{key}' for a {} store",
                url.scheme()
            ))
        })
}

/// The key a store is kept under: scheme, host and port (`s3://bucket`).
fn store_key(url: &Url) -> String {
    match url.port() {
        Some(port) => format!("{}://{}:{port}", url.scheme(), url.host_str().unwrap_or("")),
        None => format!("{}://{}", url.scheme(), url.host_str().unwrap_or("")),
    }
}

/// A registry that opens remote stores on first use (see the module docs).
#[derive(Debug)]
pub struct ObjectStores {
    stores: RwLock<HashMap<String, Arc<dyn ObjectStore>>>,
    local: Arc<LocalFileSystem>,
}

impl Default for ObjectStores {
    fn default() -> Self {
        Self {
            stores: RwLock::new(HashMap::new()),
            local: Arc::new(LocalFileSystem::new()),
        }
    }
}

impl ObjectStores {
    /// An empty registry: local files, and remote stores from the environment on first use.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Arc<dyn ObjectStore>>> {
        // A poisoned lock only means another thread panicked while inserting; the map is valid.
        self.stores.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Arc<dyn ObjectStore>>> {
        self.stores.write().unwrap_or_else(|e| e.into_inner())
    }
}

impl ObjectStoreRegistry for ObjectStores {
    fn register_store(
        &self,
        url: &Url,
        store: Arc<dyn ObjectStore>,
    ) -> Option<Arc<dyn ObjectStore>> {
        self.write().insert(store_key(url), store)
    }

    fn deregister_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        self.write().remove(&store_key(url)).ok_or_else(|| {
            DataFusionError::Execution(format!("no object store registered for {url}"))
        })
    }

    fn get_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        let key = store_key(url);
        if let Some(store) = self.read().get(&key) {
            return Ok(Arc::clone(store));
        }
        if url.scheme() == "file" {
            return Ok(self.local.clone());
        }
        let store = build_store(url, &HashMap::new())?;
        Ok(Arc::clone(self.write().entry(key).or_insert(store)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn options_pick_the_store_keys_and_reject_foreign_ones() {
        let options = HashMap::from([
            ("aws.access_key_id".to_string(), "k".to_string()),
            ("aws.secret_access_key".to_string(), "s".to_string()),
            ("aws.region".to_string(), "us-east-1".to_string()),
            ("aws.endpoint".to_string(), "http://127.0.0.1:9".to_string()),
            ("aws.allow_http".to_string(), "true".to_string()),
        ]);
        build_store(&url("s3://bucket/x.parquet"), &options).unwrap();
        let bad = HashMap::from([("aws.no_such_key".to_string(), "1".to_string())]);
        let e = build_store(&url("s3://bucket/x"), &bad)
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown option 'aws.no_such_key'"), "{e}");
        let foreign = HashMap::from([("gcp.service_account_path".to_string(), "p".to_string())]);
        let e = build_store(&url("s3://bucket/x"), &foreign)
            .unwrap_err()
            .to_string();
        assert!(e.contains("is for another store"), "{e}");
        let e = build_store(&url("ftp://host/x"), &HashMap::new())
            .unwrap_err()
            .to_string();
        assert!(e.contains("unsupported location scheme 'ftp'"), "{e}");
    }

    #[test]
    fn a_registered_store_is_found_by_bucket() {
        let registry = ObjectStores::new();
        let store: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
        registry.register_store(&url("s3://b"), Arc::clone(&store));
        let found = registry.get_store(&url("s3://b/some/key.parquet")).unwrap();
        assert!(Arc::ptr_eq(&found, &store));
        assert!(registry.get_store(&url("file:///tmp")).is_ok());
        registry.deregister_store(&url("s3://b/")).unwrap();
    }
}
