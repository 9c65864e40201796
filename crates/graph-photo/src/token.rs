//! `graph-photo token`: development tokens with Entra-shaped claims (spec D2).

use std::path::Path;
use std::time::Duration;

use adapter_memstore::MemDirectory;
use dev_tokens::{DevKey, TokenRequest, DEV_APP_ID};

use crate::cli::{split_list, TokenArgs};
use crate::AppError;

/// The directory the server would use with the same options.
pub fn load_directory(file: Option<&Path>) -> Result<MemDirectory, AppError> {
    Ok(match file {
        Some(path) => MemDirectory::load(path)?,
        None => MemDirectory::seeded(),
    })
}

/// Builds the claims a token for these arguments carries.
pub fn token_request(args: &TokenArgs, directory: &MemDirectory) -> Result<TokenRequest, AppError> {
    let lifetime = Duration::from_secs(args.lifetime);
    let mut request = if args.app {
        let tenant = match &args.tenant {
            Some(tenant) => tenant.clone(),
            None => directory
                .data()
                .tenants
                .first()
                .map(|t| t.id.clone())
                .ok_or_else(|| {
                    AppError::Usage("the directory has no tenant; pass --tenant".into())
                })?,
        };
        TokenRequest::application(tenant, DEV_APP_ID, split_list(&args.roles))
    } else {
        let wanted = args.user.as_deref().unwrap_or_default();
        let (tenant, user) = directory.find_user(wanted).ok_or_else(|| {
            AppError::Usage(format!(
                "no user '{wanted}' in the directory (give an id or userPrincipalName)"
            ))
        })?;
        let scopes = split_list(&args.scopes);
        if scopes.is_empty() {
            return Err(AppError::Usage(
                "a delegated token needs at least one scope (--scopes \"User.ReadWrite\"); use --app for an application token".into(),
            ));
        }
        let mut request = TokenRequest::delegated(
            args.tenant.clone().unwrap_or_else(|| tenant.id.clone()),
            user.id.clone(),
            scopes,
        );
        request.upn = Some(user.user_principal_name.clone());
        request.directory_roles = match &args.wids {
            Some(wids) => split_list(wids),
            None => user.directory_roles.clone(),
        };
        request.roles = split_list(&args.roles);
        request
    };
    request.lifetime = lifetime;
    request.audience = args.audience.clone();
    Ok(request)
}

pub fn run(args: &TokenArgs) -> Result<String, AppError> {
    let directory = load_directory(args.dirs.directory.as_deref())?;
    let request = token_request(args, &directory)?;
    let data_dir = args.dirs.resolved_data_dir();
    let key = DevKey::load_or_create(&data_dir)?;
    Ok(key.mint(&request)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::DirArgs;
    use adapter_memstore::seed;

    fn args(user: Option<&str>, scopes: &str, app: bool) -> TokenArgs {
        TokenArgs {
            user: user.map(str::to_owned),
            scopes: scopes.to_owned(),
            roles: if app {
                "ProfilePhoto.ReadWrite.All".into()
            } else {
                String::new()
            },
            app,
            tenant: None,
            wids: None,
            lifetime: 60,
            audience: "https://graph.microsoft.com".into(),
            dirs: DirArgs {
                data_dir: None,
                directory: None,
            },
        }
    }

    #[test]
    fn users_are_found_by_upn_in_any_case_and_bring_their_roles() {
        let dir = MemDirectory::seeded();
        let req = token_request(
            &args(
                Some(&seed::MEGAN_UPN.to_uppercase()),
                "User.ReadWrite.All",
                false,
            ),
            &dir,
        )
        .unwrap();
        assert_eq!(req.user_id.as_deref(), Some(seed::MEGAN_ID));
        assert_eq!(req.tenant, seed::CONTOSO_TENANT);
        assert!(req
            .directory_roles
            .iter()
            .any(|r| r == photo_core::principal::USER_ADMINISTRATOR));
    }

    #[test]
    fn app_tokens_default_to_the_first_tenant() {
        let dir = MemDirectory::seeded();
        let req = token_request(&args(None, "", true), &dir).unwrap();
        assert!(req.is_application());
        assert_eq!(req.tenant, dir.data().tenants[0].id);
        assert_eq!(req.roles, vec!["ProfilePhoto.ReadWrite.All"]);
    }

    #[test]
    fn unknown_users_and_missing_scopes_are_usage_errors() {
        let dir = MemDirectory::seeded();
        assert!(matches!(
            token_request(&args(Some("nobody@contoso.com"), "User.Read", false), &dir),
            Err(AppError::Usage(_))
        ));
        assert!(matches!(
            token_request(&args(Some(seed::ADELE_UPN), "", false), &dir),
            Err(AppError::Usage(_))
        ));
    }
}
