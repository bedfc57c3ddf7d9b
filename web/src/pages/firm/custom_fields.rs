//! Firm workspace pages of this area.

use poem::Route;

/// Adds this module's pages to the routes.
pub fn routes(route: Route) -> Route {
    route
}
