//! `graph-photo photo put|get|sizes|delete TARGET`: one call to a Graph photo API.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use adapter_graph_client::{
    ClientConfig, CommandToken, GraphClient, PhotoUpload, RetryPolicy, StaticToken, TlsTrust,
    TokenProvider, WriteOptions,
};
use bytes::Bytes;
use photo_upload::fit::{fit, Fitted};

use crate::cli::{
    ClientArgs, PhotoAction, PhotoArgs, PhotoDeleteArgs, PhotoGetArgs, PhotoPutArgs, PhotoSizesArgs,
};
use crate::AppError;

/// The token source these arguments name: `--token-command` wins over `--token`.
pub fn token_provider(args: &ClientArgs) -> Result<Arc<dyn TokenProvider>, AppError> {
    match (&args.token_command, &args.token) {
        (Some(command), _) => Ok(Arc::new(CommandToken::new(command.clone()))),
        (None, Some(token)) => Ok(Arc::new(StaticToken(token.clone()))),
        (None, None) => Err(AppError::Usage(
            "no access token: pass --token (or GRAPH_PHOTO_TOKEN) or --token-command".into(),
        )),
    }
}

/// The client configuration these arguments describe; reads the `--cacert` files.
pub fn client_config(args: &ClientArgs) -> Result<ClientConfig, AppError> {
    let extra_roots_pem = args
        .cacert
        .iter()
        .map(|path| {
            std::fs::read(path)
                .map_err(|e| AppError::Usage(format!("--cacert {}: {e}", path.display())))
        })
        .collect::<Result<_, _>>()?;
    if args.insecure {
        tracing::warn!("--insecure: any server certificate is accepted");
    }
    Ok(ClientConfig {
        base_url: args.base.clone(),
        retry: RetryPolicy {
            max_attempts: args.max_attempts,
            ..RetryPolicy::default()
        },
        timeout: Duration::from_secs(args.timeout),
        tls: TlsTrust {
            extra_roots_pem,
            accept_invalid_certs: args.insecure,
        },
    })
}

/// The client these arguments describe.
pub fn client_from(args: &ClientArgs) -> Result<GraphClient, AppError> {
    Ok(GraphClient::new(
        client_config(args)?,
        token_provider(args)?,
    )?)
}

pub async fn run(args: PhotoArgs) -> Result<(), AppError> {
    match args.action {
        PhotoAction::Put(args) => put(args).await,
        PhotoAction::Get(args) => get(args).await,
        PhotoAction::Sizes(args) => sizes(args).await,
        PhotoAction::Delete(args) => delete(args).await,
    }
}

async fn put(args: PhotoPutArgs) -> Result<(), AppError> {
    let client = client_from(&args.client)?;
    let upload = if args.fit {
        let path = args.file.clone();
        let (bytes, fitted) = tokio::task::spawn_blocking(move || {
            let bytes = std::fs::read(&path).map_err(|e| file_error(&path, &e))?;
            let fitted = fit(&bytes)?;
            Ok::<_, AppError>((bytes, fitted))
        })
        .await
        .map_err(|e| AppError::Usage(format!("fitting the image failed: {e}")))??;
        match fitted {
            Fitted::Unchanged => PhotoUpload::Bytes(Bytes::from(bytes)),
            Fitted::Reencoded {
                bytes: encoded,
                width,
                height,
                quality,
                reason,
            } => {
                eprintln!(
                    "graph-photo: {}: {reason} Re-encoded as JPEG {width}x{height}, quality {quality}, {} bytes.",
                    args.file.display(),
                    encoded.len()
                );
                PhotoUpload::Bytes(Bytes::from(encoded))
            }
        }
    } else {
        if !args.file.is_file() {
            return Err(AppError::Usage(format!(
                "{}: not a readable file",
                args.file.display()
            )));
        }
        PhotoUpload::File(args.file.clone())
    };
    let options = WriteOptions {
        if_match: args.if_match.clone(),
        use_patch: args.patch,
    };
    match client.put_photo(&args.target, upload, &options).await {
        Ok(updated) => {
            if let Some(etag) = updated.etag {
                println!("{etag}");
            }
            Ok(())
        }
        Err(error) => {
            if !args.fit && error.graph().is_some_and(|g| g.status == 413) {
                eprintln!(
                    "graph-photo: hint: --fit downscales and re-encodes images that are too large"
                );
            }
            Err(error.into())
        }
    }
}

async fn get(args: PhotoGetArgs) -> Result<(), AppError> {
    let client = client_from(&args.client)?;
    if args.metadata {
        let metadata = match &args.size {
            Some(size) => client.get_size_metadata(&args.target, size).await?,
            None => client.get_photo_metadata(&args.target).await?,
        };
        let mut json = serde_json::to_vec_pretty(&metadata)
            .map_err(|e| AppError::Usage(format!("cannot print the metadata: {e}")))?;
        json.push(b'\n');
        return write_output(args.out.as_deref(), &json);
    }
    if args.out.is_none() && std::io::stdout().is_terminal() {
        return Err(AppError::Usage(
            "refusing to write image bytes to a terminal: use --out FILE, redirect, or --metadata"
                .into(),
        ));
    }
    let photo = client.get_photo(&args.target, args.size.as_deref()).await?;
    write_output(args.out.as_deref(), &photo.bytes)?;
    if let Some(out) = &args.out {
        eprintln!(
            "graph-photo: wrote {} bytes ({}, ETag {}) to {}",
            photo.bytes.len(),
            photo.content_type.as_deref().unwrap_or("no content type"),
            photo.etag.as_deref().unwrap_or("none"),
            out.display()
        );
    }
    Ok(())
}

async fn sizes(args: PhotoSizesArgs) -> Result<(), AppError> {
    let client = client_from(&args.client)?;
    let sizes = client.list_sizes(&args.target).await?;
    let mut json = serde_json::to_vec_pretty(&sizes)
        .map_err(|e| AppError::Usage(format!("cannot print the sizes: {e}")))?;
    json.push(b'\n');
    write_output(None, &json)
}

async fn delete(args: PhotoDeleteArgs) -> Result<(), AppError> {
    let client = client_from(&args.client)?;
    let options = WriteOptions {
        if_match: args.if_match.clone(),
        use_patch: false,
    };
    client.delete_photo(&args.target, &options).await?;
    Ok(())
}

/// Writes to `out` (atomically: a temporary file renamed into place) or standard output.
fn write_output(out: Option<&Path>, bytes: &[u8]) -> Result<(), AppError> {
    match out {
        Some(path) => {
            photo_upload::sync::write_atomically(path, bytes).map_err(|e| file_error(path, &e))
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(bytes)
                .and_then(|()| stdout.flush())
                .map_err(|e| AppError::Usage(format!("cannot write to standard output: {e}")))
        }
    }
}

pub(crate) fn file_error(path: &Path, error: &std::io::Error) -> AppError {
    AppError::Usage(format!("{}: {error}", path.display()))
}
