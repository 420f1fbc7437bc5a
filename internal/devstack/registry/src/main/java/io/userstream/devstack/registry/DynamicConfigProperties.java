package io.userstream.devstack.registry;

import java.util.List;

import javax.enterprise.inject.Produces;
import javax.inject.Singleton;

import io.apicurio.common.apps.config.DynamicConfigPropertyList;

/**
 * Stands in for the bean that the build step of
 * apicurio-common-app-components-config-index would generate: that module is
 * not published, so no setting is listed as changeable at runtime through
 * the admin API. Every setting keeps its value from startup, which is all
 * the local stack needs.
 */
public class DynamicConfigProperties {
    @Produces
    @Singleton
    DynamicConfigPropertyList properties() {
        return new DynamicConfigPropertyList(List.of());
    }
}
