//! The command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "graph-photo",
    version,
    about = "A Microsoft Graph compatible profile-photo service, client and conformance suite."
)]
pub struct Cli {
    /// Log filter (tracing's EnvFilter syntax), e.g. `info`, `debug`, `adapter_http_server=debug`.
    #[arg(long, global = true, env = "GRAPH_PHOTO_LOG", default_value = "info")]
    pub log_level: String,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the Graph-compatible photo server on the embedded in-memory store.
    Serve(ServeArgs),
    /// Mint a development token signed with the server's development key; prints only the token.
    Token(TokenArgs),
}

#[derive(Debug, Clone, Args)]
pub struct DirArgs {
    /// Where the development signing key lives (created with mode 0600 on first use).
    #[arg(long, env = "GRAPH_PHOTO_DATA_DIR")]
    pub data_dir: Option<PathBuf>,

    /// A directory file (JSON) to use instead of the seeded development tenant.
    #[arg(long, env = "GRAPH_PHOTO_DIRECTORY")]
    pub directory: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "GRAPH_PHOTO_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,

    #[command(flatten)]
    pub dirs: DirArgs,

    /// Validate tokens against this JWKS file instead of the development key.
    #[arg(long, env = "GRAPH_PHOTO_JWKS_FILE", conflicts_with = "jwks_url")]
    pub jwks_file: Option<PathBuf>,

    /// Validate tokens against this JWKS URL (cached; refetched on an unknown key id).
    #[arg(long, env = "GRAPH_PHOTO_JWKS_URL")]
    pub jwks_url: Option<String>,

    /// Accepted token audiences (repeatable). Default: Graph's two audience forms.
    #[arg(
        long = "audience",
        env = "GRAPH_PHOTO_AUDIENCES",
        value_delimiter = ','
    )]
    pub audiences: Vec<String>,

    /// The public root used in `@odata.context`, e.g. `https://photos.example.com`.
    /// Default: `http://` plus the request's Host.
    #[arg(long, env = "GRAPH_PHOTO_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Photo versions whose rendered sizes are kept in memory.
    #[arg(long, default_value_t = 256)]
    pub rendition_cache: usize,

    /// Do not print a development token on start.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Debug, Clone, Args)]
pub struct TokenArgs {
    /// The signed-in user, by id or userPrincipalName (looked up in the directory). Omit with --app.
    #[arg(long, required_unless_present = "app")]
    pub user: Option<String>,

    /// Delegated permissions (space- or comma-separated), e.g. "User.ReadWrite Contacts.ReadWrite".
    #[arg(long, default_value = "")]
    pub scopes: String,

    /// Application permissions (space- or comma-separated), e.g. "ProfilePhoto.ReadWrite.All".
    #[arg(long, default_value = "")]
    pub roles: String,

    /// Mint an application token (no signed-in user).
    #[arg(long, conflicts_with = "user")]
    pub app: bool,

    /// The tenant id. Default: the user's tenant, or the first tenant of the directory for --app.
    #[arg(long)]
    pub tenant: Option<String>,

    /// Directory role template ids (`wids`). Default: the roles the user holds in the directory.
    #[arg(long)]
    pub wids: Option<String>,

    /// Token lifetime in seconds.
    #[arg(long, default_value_t = 3600)]
    pub lifetime: u64,

    /// The `aud` claim.
    #[arg(long, default_value = "https://graph.microsoft.com")]
    pub audience: String,

    #[command(flatten)]
    pub dirs: DirArgs,
}

/// Splits a permission list given with spaces or commas.
pub fn split_list(list: &str) -> Vec<String> {
    list.split(|c: char| c.is_whitespace() || c == ',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn lists_split_on_spaces_and_commas() {
        assert_eq!(
            split_list(" User.Read,Contacts.Read  Group.Read.All,"),
            vec!["User.Read", "Contacts.Read", "Group.Read.All"]
        );
    }
}
