//! Firm workspace pages.

use poem::Route;

/// Adds this module's pages to the firm routes.
pub fn routes(route: Route) -> Route {
    route
}
