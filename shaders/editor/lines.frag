#version 330 core
// One uniform colour per draw call: the screenshot tests look for these exact colours.
uniform vec4 u_color;
out vec4 f_color;

void main() {
    f_color = u_color;
}
