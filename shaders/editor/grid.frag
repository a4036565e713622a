#version 330 core
// Ground grid lines that fade into the background where they crowd together.
// Seen from a height h above the ground, lines u_spacing apart at distance d from the eye lie about
// u_focal_px * u_spacing * h / d^2 pixels apart on screen (the ground foreshortens as h / d). Below u_fade_px.y
// pixels the line starts to mix toward u_background, at u_fade_px.x it is gone: near lines keep their exact colour,
// and the far band at a grazing angle no longer aliases. Minor lines (spacing 1) fade before major ones (spacing 5).
// Mirrored on the CPU by app/path/view_math.py:grid_fade, which the screenshot tests use.
uniform vec3 u_color;
uniform vec3 u_background;
uniform vec3 u_eye;          // world position of the eye
uniform float u_ground_y;    // the grid's plane (world y)
uniform float u_focal_px;    // vertical focal length in framebuffer pixels
uniform float u_spacing;     // world distance between neighbouring lines of this set
uniform vec2 u_fade_px;      // (gone below, exact above) in pixels of line gap
uniform bool u_fade;         // false: every line in its exact colour (the comparison shot of the tests)
in vec3 v_world;
out vec4 f_color;

void main() {
    float keep = 1.0;
    if (u_fade) {
        float d = distance(u_eye, v_world);
        float h = max(abs(u_eye.y - u_ground_y), 1e-4);
        float gap = u_focal_px * u_spacing * h / max(d * d, 1e-8);
        keep = smoothstep(u_fade_px.x, u_fade_px.y, gap);
    }
    f_color = vec4(mix(u_background, u_color, keep), 1.0);
}
